"""Translation between ThingsBoard's wire vocabulary and petit's models, in both directions.

Inputs may be tb-rest-client model objects (snake_case attributes) or plain JSON dicts (camelCase keys),
because some endpoints come back undeserialised; ``_field`` reads either.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt

from petit.thingsboard.errors import (
    ThingsBoardAuthError,
    ThingsBoardBadRequestError,
    ThingsBoardClaimRejectedError,
    ThingsBoardConflictError,
    ThingsBoardError,
    ThingsBoardForbiddenError,
    ThingsBoardNotFoundError,
    ThingsBoardProtocolError,
    ThingsBoardRateLimitedError,
    ThingsBoardTimeoutError,
    ThingsBoardUnavailableError,
)
from petit.thingsboard.models import (
    AttributeScope,
    DeviceCredentials,
    DeviceRecord,
    OwnerAccount,
    Reading,
    TokenPair,
    Value,
)

#: ThingsBoard's "no customer" / "no tenant" id.
NULL_UUID = UUID("13814000-1dd2-11b2-8080-808080808080")

SCOPE_TO_TB: dict[AttributeScope, str] = {
    AttributeScope.SETTINGS: "SHARED_SCOPE",
    AttributeScope.SERVER: "SERVER_SCOPE",
    AttributeScope.REPORTED: "CLIENT_SCOPE",
}

#: SERVER_SCOPE attribute ThingsBoard stamps (epoch ms) whenever a device's transport session opens.
LAST_CONNECT_TIME = "lastConnectTime"
#: Client attribute a device publishes to prove it holds the pairing key (porto_contract/device/pairing.md).
PAIRING_PROOF = "pairKey"

# Canonical JSON numbers only: "007" or "1_000" stay strings, so a string a device meant as text survives.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:(\.\d+)?([eE][+-]?\d+)?)")

# ThingsBoard reports clashes as 400 with these phrases; petit treats them as conflicts.
_CONFLICT_PHRASES = ("already exists", "already present", "already assigned", "already claimed")


def _field(obj: Any, snake: str, camel: str | None = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(camel or snake)
    return getattr(obj, snake, None)


def entity_uuid(value: Any) -> UUID | None:
    """An id from ``{"entityType":..,"id":..}``, an ``EntityId`` model or a string; TB's null id is None."""
    if value is None:
        return None
    raw = value if isinstance(value, str | UUID) else _field(value, "id")
    if raw is None:
        return None
    uid = raw if isinstance(raw, UUID) else UUID(str(raw))
    return None if uid == NULL_UUID else uid


def entity_ref(entity_type: str, uid: UUID) -> dict[str, str]:
    return {"entityType": entity_type, "id": str(uid)}


def device_from_tb(obj: Any) -> DeviceRecord:
    try:
        device_id = entity_uuid(_field(obj, "id"))
        name = _field(obj, "name")
    except (ValueError, TypeError) as exc:
        raise ThingsBoardProtocolError(f"unexpected device shape: {exc}") from exc
    if device_id is None or not isinstance(name, str):
        raise ThingsBoardProtocolError("device without id or name")
    try:
        return DeviceRecord(
            id=device_id,
            name=name,
            label=_field(obj, "label") or None,
            profile=_field(obj, "type") or "default",
            owner_id=entity_uuid(_field(obj, "customer_id", "customerId")),
            created_at_ms=int(_field(obj, "created_time", "createdTime") or 0),
        )
    except (ValueError, TypeError) as exc:
        raise ThingsBoardProtocolError(f"unexpected device shape: {exc}") from exc


def owner_from_tb(customer: Any, user: Any) -> OwnerAccount:
    owner_id = entity_uuid(_field(customer, "id"))
    account_id = entity_uuid(_field(user, "id"))
    if owner_id is None or account_id is None:
        raise ThingsBoardProtocolError("customer or user without id")
    return OwnerAccount(
        owner_id=owner_id,
        account_id=account_id,
        title=str(_field(customer, "title")),
        email=str(_field(user, "email")),
    )


def credentials_from_tb(obj: Any, *, mqtt_host: str, mqtt_port: int) -> DeviceCredentials:
    device_id = entity_uuid(_field(obj, "device_id", "deviceId"))
    token = _field(obj, "credentials_id", "credentialsId")
    kind = _field(obj, "credentials_type", "credentialsType")
    if device_id is None or not isinstance(token, str):
        raise ThingsBoardProtocolError("credentials without device id or token")
    if kind not in (None, "ACCESS_TOKEN"):
        raise ThingsBoardProtocolError(f"device uses {kind} credentials; petit manages access tokens only")
    return DeviceCredentials(
        device_id=device_id, access_token=token, mqtt_host=mqtt_host, mqtt_port=mqtt_port
    )


def typed_value(value: Any) -> Value:
    """Numbers as numbers even when ThingsBoard sent them as strings (non-strict responses)."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        match = _NUMBER.fullmatch(value)
        assert match is not None
        if match.group(1) is None and match.group(2) is None:
            return int(value)
        number = float(value)
        return number if math.isfinite(number) else value
    if isinstance(value, bool | int | float | str | dict | list) or value is None:
        return value
    return str(value)


def _reading(sample: Any) -> Reading:
    ts = _field(sample, "ts")
    if ts is None or isinstance(ts, bool):
        raise ThingsBoardProtocolError("telemetry sample without ts")
    try:
        ts_ms = int(ts)
    except (TypeError, ValueError, OverflowError):
        raise ThingsBoardProtocolError(f"telemetry sample with a ts that is not a time: {ts!r:.40}") from None
    return Reading(ts_ms=ts_ms, value=typed_value(_field(sample, "value")))


def _samples(key: str, value: Any) -> list[Any]:
    """A key's samples; anything but a list (or nothing) is ThingsBoard breaking its own format."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ThingsBoardProtocolError(f"telemetry for {key!r:.40} is not a list of samples")
    return list(value)


def latest_from_tb(data: Any, keys: list[str] | tuple[str, ...]) -> dict[str, Reading | None]:
    if not isinstance(data, Mapping):
        raise ThingsBoardProtocolError("latest telemetry is not an object")
    result: dict[str, Reading | None] = {}
    for key in keys:
        samples = _samples(key, data.get(key))
        # TB answers a key that never reported with a sample whose value is null.
        first = samples[0] if samples else None
        result[key] = None if first is None or _field(first, "value") is None else _reading(first)
    return result


def history_from_tb(data: Any) -> dict[str, list[Reading]]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ThingsBoardProtocolError("telemetry history is not an object")
    return {str(key): [_reading(s) for s in _samples(str(key), samples)] for key, samples in data.items()}


def attributes_from_tb(data: Any) -> dict[str, Value]:
    if data is None:
        return {}
    if not isinstance(data, list):
        raise ThingsBoardProtocolError("attributes are not a list")
    return {str(_field(item, "key")): typed_value(_field(item, "value")) for item in data}


def connected_since_from_tb(value: Value) -> datetime | None:
    """``lastConnectTime`` as an aware UTC datetime; absent or 0 means the device never connected."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ThingsBoardProtocolError(f"{LAST_CONNECT_TIME} is not epoch milliseconds: {value!r}")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def token_pair_from_tb(data: Any) -> TokenPair:
    """Read a ``{"token","refreshToken"}`` answer; a missing token is an auth failure (TB's login quirk)."""
    token = _field(data, "token")
    refresh = _field(data, "refresh_token", "refreshToken")
    if not isinstance(token, str) or not token:
        raise ThingsBoardAuthError("ThingsBoard returned no token", status=401)
    issued_at, access_exp = jwt_times(token)
    return TokenPair(
        access=token,
        refresh=refresh if isinstance(refresh, str) and refresh else None,
        access_exp=access_exp,
        refresh_exp=jwt_times(refresh)[1] if isinstance(refresh, str) and refresh else None,
        issued_at=issued_at,
    )


def jwt_times(token: str) -> tuple[float, float]:
    """``(iat, exp)`` of a ThingsBoard JWT; ``iat`` is 0 when absent."""
    # The signature belongs to ThingsBoard; we only need to know when to refresh.
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return float(claims.get("iat") or 0.0), float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise ThingsBoardProtocolError("ThingsBoard token without a readable exp") from exc


def _decode_body(body: Any) -> tuple[Any, str]:
    if isinstance(body, bytes | bytearray):
        text = bytes(body).decode("utf-8", "replace")
    elif body is None:
        text = ""
    else:
        text = str(body)
    try:
        return json.loads(text), text
    except ValueError:
        return None, text


def _retry_after(headers: Any) -> float | None:
    raw = None
    if headers is not None:
        try:
            raw = headers.get("Retry-After") or headers.get("retry-after")
        except AttributeError:
            raw = None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


_BY_STATUS: dict[int, type[ThingsBoardError]] = {
    401: ThingsBoardAuthError,
    403: ThingsBoardForbiddenError,
    404: ThingsBoardNotFoundError,
    409: ThingsBoardConflictError,
    400: ThingsBoardBadRequestError,
    413: ThingsBoardBadRequestError,
}

_RPC_BY_STATUS: dict[int, tuple[type[ThingsBoardError], str]] = {
    408: (ThingsBoardTimeoutError, "device did not answer in time"),
    504: (ThingsBoardTimeoutError, "device did not answer in time"),
    # v1 RPC's "no active connection".
    409: (ThingsBoardTimeoutError, "device is not connected"),
    406: (ThingsBoardProtocolError, "device replied with something that is not JSON"),
}


def error_from_tb(  # noqa: PLR0911 - a flat decision list reads better than nesting
    status: int, body: Any = None, headers: Any = None, *, rpc: bool = False
) -> ThingsBoardError:
    """Classify a non-2xx answer. ``rpc`` marks the RPC endpoints, whose 504/408 are about the device."""
    parsed, text = _decode_body(body)
    message = str(parsed.get("message")) if isinstance(parsed, dict) and parsed.get("message") else text
    message = message[:300] or f"HTTP {status}"
    if parsed == "FAILURE":
        return ThingsBoardClaimRejectedError("claim rejected", status=status)
    if parsed == "CLAIMED":
        return ThingsBoardConflictError("device is already claimed", status=status)
    if rpc and status in _RPC_BY_STATUS:
        rpc_cls, rpc_message = _RPC_BY_STATUS[status]
        return rpc_cls(rpc_message, status=status)
    if status == 429:
        return ThingsBoardRateLimitedError(message, status=status, retry_after_s=_retry_after(headers))
    if status in (400, 413) and any(phrase in message.lower() for phrase in _CONFLICT_PHRASES):
        return ThingsBoardConflictError(message, status=status)
    if status in _BY_STATUS:
        return _BY_STATUS[status](message, status=status)
    if status == 0 or status >= 500:
        return ThingsBoardUnavailableError(message, status=status or None)
    return ThingsBoardProtocolError(message, status=status)


def customer_title(prefix: str, email: str) -> str:
    return f"{prefix}{email.strip().lower()}"


def ws_url(http_url: str) -> str:
    """ThingsBoard's telemetry WebSocket endpoint for an HTTP base URL."""
    base = http_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base + "/api/ws"
