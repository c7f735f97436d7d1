"""TB's telemetry payload forms, value typing and value rendering (reference §5.4, §6.1)."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from thingsboard_emulator.contracts import DeviceApiError

_NUMERIC = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

TsEntries = list[tuple[int, dict[str, Any]]]


def cast_value(value: Any) -> Any:  # noqa: PLR0911 - one return per JSON type
    """Type a JSON value the way TB's JsonConverter does; ``None`` means "skip this key"."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _LONG_MIN <= value <= _LONG_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        # json.type_cast_enabled=true: numeric strings become numbers.
        if _NUMERIC.fullmatch(value):
            if "." in value:
                return float(value)
            number = int(value)
            return number if _LONG_MIN <= number <= _LONG_MAX else value
        return value
    return value  # object or array: a JSON value


def _values(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not key.strip():
            raise DeviceApiError("bad_payload", "Key cannot be blank")
        typed = cast_value(value)
        if typed is not None:
            out[key] = typed
    return out


def _ts_entry(obj: dict[str, Any], now: int) -> tuple[int, dict[str, Any]]:
    if "ts" in obj and "values" in obj:
        ts, values = obj["ts"], obj["values"]
        if isinstance(ts, str) and ts.lstrip("-").isdigit():
            ts = int(ts)
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not isinstance(values, dict):
            raise DeviceApiError("bad_payload", "Can't parse value: " + json.dumps(obj)[:200])
        return int(ts), _values(values)
    return now, _values(obj)


def parse_telemetry(payload: Any, now: int) -> TsEntries:
    """Every accepted telemetry form → ``[(ts, {key: value})]``; raises ``DeviceApiError('bad_payload')``."""
    if isinstance(payload, dict):
        return [_ts_entry(payload, now)]
    if isinstance(payload, list):
        entries = []
        for item in payload:
            if not isinstance(item, dict):
                raise DeviceApiError("bad_payload", "Can't parse value: " + json.dumps(item)[:200])
            entries.append(_ts_entry(item, now))
        return entries
    raise DeviceApiError("bad_payload", "Can't parse value: " + json.dumps(payload)[:200])


def parse_attributes(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise DeviceApiError("bad_payload", "Request is not a JSON object")
    return _values(payload)


def java_double(value: float) -> str:
    """``Double.toString`` as TB renders DOUBLE values in strings (``42.0``, ``1.0E7``)."""
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    sci_exponent = exponent + len(digits) - 1
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{sci_exponent}"


def to_str(value: Any) -> str | None:
    """A stored value as TB's string form (REST without ``useStrictDataTypes``, WebSocket updates)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
