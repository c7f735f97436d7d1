"""TB's ``TelemetrySubscriptionUpdate`` on the wire.

TB serialises it with Jackson's default mapper, so null fields are present, every value is its Java
``getValueAsString()`` and ``latestValues`` maps each key to the ts of its first (newest) entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

NO_ERROR = 0
INTERNAL_ERROR = 1
BAD_REQUEST = 2
UNAUTHORIZED = 3

FAILED_TO_FETCH_DATA = "Failed to fetch data!"
FAILED_TO_FETCH_ATTRIBUTES = "Failed to fetch attributes!"
FAILED_TO_PARSE = "Failed to parse the payload"

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

Entries = Iterable[tuple[int, Any]]


def value_as_string(value: Any) -> str | None:
    """Render a stored value the way TB's ``KvEntry.getValueAsString()`` does."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    # JSON-typed values are kept as their compact JSON text.
    return _dumps(value)


def java_double(value: float) -> str:
    """Java's ``Double.toString``: plain notation in [1e-3, 1e7), otherwise ``d.dddE±n``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digit_text = "".join(map(str, digits)).rstrip("0") or "0"
    sci_exponent = len(digits) + exponent - 1
    mantissa = digit_text[0] + "." + (digit_text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{sci_exponent}"


def data_update(subscription_id: int, data: Mapping[str, Entries]) -> str:
    """A successful update: ``data`` maps each key to its ``(ts, value)`` entries, newest first."""
    wire: dict[str, list[list[Any]]] = {}
    latest: dict[str, int] = {}
    for key, entries in data.items():
        rows: list[list[Any]] = [[ts, value_as_string(value)] for ts, value in entries]
        wire[key] = rows
        if rows:
            latest[key] = rows[0][0]
    return _dumps(
        {
            "subscriptionId": subscription_id,
            "errorCode": NO_ERROR,
            "errorMsg": None,
            "data": wire,
            "latestValues": latest,
        }
    )


def error_update(subscription_id: int, error_code: int, error_msg: str | None) -> str:
    """An error update; TB leaves ``data`` null and ``latestValues`` empty."""
    return _dumps(
        {
            "subscriptionId": subscription_id,
            "errorCode": error_code,
            "errorMsg": error_msg,
            "data": None,
            "latestValues": {},
        }
    )
