"""Parsing of WebSocket command messages into typed commands.

ThingsBoard deserialises with Jackson, so the rules here follow Jackson's: a missing field takes the Java
default (``0``, ``false``, ``null``), numbers and numeric strings coerce into one another, unknown fields are
tolerated, and a value of the wrong shape (an array where a string belongs, an unknown ``type``) makes the
whole message unparseable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

# Every command type TB's WsCmdType knows; types other than the three handled here are accepted and ignored,
# as TB does for a type it has no handler for.
KNOWN_CMD_TYPES = frozenset(
    {
        "AUTH",
        "ATTRIBUTES",
        "TIMESERIES",
        "TIMESERIES_HISTORY",
        "ENTITY_DATA",
        "ENTITY_COUNT",
        "ALARM_DATA",
        "ALARM_COUNT",
        "ALARM_STATUS",
        "NOTIFICATIONS",
        "NOTIFICATIONS_COUNT",
        "MARK_NOTIFICATIONS_AS_READ",
        "MARK_ALL_NOTIFICATIONS_AS_READ",
        "ENTITY_DATA_UNSUBSCRIBE",
        "ENTITY_COUNT_UNSUBSCRIBE",
        "ALARM_DATA_UNSUBSCRIBE",
        "ALARM_COUNT_UNSUBSCRIBE",
        "ALARM_STATUS_UNSUBSCRIBE",
        "NOTIFICATIONS_UNSUBSCRIBE",
    }
)

_LEGACY_ARRAYS: tuple[tuple[str, str], ...] = (
    ("attrSubCmds", "ATTRIBUTES"),
    ("tsSubCmds", "TIMESERIES"),
    ("historyCmds", "TIMESERIES_HISTORY"),
)
# Legacy arrays for features this emulator does not serve; their content is only checked for shape.
_LEGACY_IGNORED = (
    "entityDataCmds",
    "entityDataUnsubscribeCmds",
    "alarmDataCmds",
    "alarmDataUnsubscribeCmds",
    "entityCountCmds",
    "entityCountUnsubscribeCmds",
    "alarmCountCmds",
    "alarmCountUnsubscribeCmds",
)


class CommandParseError(Exception):
    """The message is not a command wrapper TB could deserialise."""


@dataclass(frozen=True, slots=True)
class SubscriptionCmd:
    """A TIMESERIES or ATTRIBUTES subscription (or unsubscription)."""

    kind: Literal["TIMESERIES", "ATTRIBUTES"]
    cmd_id: int
    entity_type: str | None
    entity_id: str | None
    keys: tuple[str, ...] | None
    scope: str | None
    unsubscribe: bool
    start_ts: int = 0
    time_window: int = 0
    interval: int = 0
    limit: int = 0
    agg: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryCmd:
    """A one-shot TIMESERIES_HISTORY read."""

    cmd_id: int
    entity_type: str | None
    entity_id: str | None
    keys: tuple[str, ...] | None
    start_ts: int
    end_ts: int
    interval: int
    limit: int
    agg: str | None


@dataclass(frozen=True, slots=True)
class IgnoredCmd:
    """A command type TB knows but this emulator does not serve (entity data, alarms, notifications)."""

    cmd_type: str
    cmd_id: int


Cmd = SubscriptionCmd | HistoryCmd | IgnoredCmd


@dataclass(frozen=True, slots=True)
class CommandMessage:
    """One inbound text frame: optional authentication plus commands in order."""

    has_auth: bool
    auth_token: str | None
    cmds: tuple[Cmd, ...]
    #: ``authCmd.apiKey`` (TB 4.4 only).
    auth_api_key: str | None = None


def parse_message(text: str, *, api_key_field: bool = False) -> CommandMessage:
    """Parse either wrapper: ``{"authCmd":…, "cmds":[…]}`` or the legacy ``tsSubCmds``/``attrSubCmds`` form.

    Both forms are accepted on both endpoints; a message may even mix them. TB picks the form by endpoint, but
    every message one form accepts means the same in the other, so accepting both loses nothing.

    ``api_key_field``: TB 4.4's ``AuthCmd`` has an ``apiKey`` field. 4.3's has not, and its plain Jackson
    mapper fails on that unknown property, so the whole message is unparseable there.
    """
    try:
        root = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CommandParseError(f"Unrecognized token: {exc}") from None
    if not isinstance(root, dict):
        raise CommandParseError("Cannot deserialize value: expected a JSON object")

    has_auth, token, api_key = _parse_auth(root.get("authCmd"), api_key_field=api_key_field)
    cmds: list[Cmd] = []
    for raw in _array(root, "cmds"):
        cmds.append(_parse_typed(raw))
    for field_name, kind in _LEGACY_ARRAYS:
        for raw in _array(root, field_name):
            cmds.append(_parse_cmd(kind, _object(raw)))
    for field_name in _LEGACY_IGNORED:
        for raw in _array(root, field_name):
            _object(raw)
    return CommandMessage(has_auth=has_auth, auth_token=token, cmds=tuple(cmds), auth_api_key=api_key)


def _parse_auth(raw: Any, *, api_key_field: bool) -> tuple[bool, str | None, str | None]:
    if raw is None:
        return False, None, None
    auth = _object(raw)
    token = _string(auth, "token")
    if not api_key_field:
        if "apiKey" in auth:
            raise CommandParseError(
                'Unrecognized field "apiKey" (class org.thingsboard.server.service.ws.AuthCmd), '
                "not marked as ignorable"
            )
        return True, token, None
    return True, token, _string(auth, "apiKey")


def _parse_typed(raw: Any) -> Cmd:
    obj = _object(raw)
    cmd_type = obj.get("type")
    if not isinstance(cmd_type, str):
        raise CommandParseError("Could not resolve subtype: missing type id property 'type'")
    if cmd_type not in KNOWN_CMD_TYPES:
        raise CommandParseError(f"Could not resolve type id '{cmd_type}' as a subtype of WsCmd")
    return _parse_cmd(cmd_type, obj)


def _parse_cmd(cmd_type: str, obj: dict[str, Any]) -> Cmd:
    cmd_id = _int(obj, "cmdId")
    if cmd_type == "TIMESERIES_HISTORY":
        return HistoryCmd(
            cmd_id=cmd_id,
            entity_type=_string(obj, "entityType"),
            entity_id=_string(obj, "entityId"),
            keys=_keys(obj),
            start_ts=_int(obj, "startTs"),
            end_ts=_int(obj, "endTs"),
            interval=_int(obj, "interval"),
            limit=_int(obj, "limit"),
            agg=_string(obj, "agg"),
        )
    if cmd_type in ("TIMESERIES", "ATTRIBUTES"):
        is_ts = cmd_type == "TIMESERIES"
        return SubscriptionCmd(
            kind="TIMESERIES" if is_ts else "ATTRIBUTES",
            cmd_id=cmd_id,
            entity_type=_string(obj, "entityType"),
            entity_id=_string(obj, "entityId"),
            keys=_keys(obj),
            scope=_string(obj, "scope"),
            unsubscribe=_bool(obj, "unsubscribe"),
            # TB's AttributesSubscriptionCmd has no time fields; Jackson would ignore them there.
            start_ts=_int(obj, "startTs") if is_ts else 0,
            time_window=_int(obj, "timeWindow") if is_ts else 0,
            interval=_int(obj, "interval") if is_ts else 0,
            limit=_int(obj, "limit") if is_ts else 0,
            agg=_string(obj, "agg") if is_ts else None,
        )
    return IgnoredCmd(cmd_type=cmd_type, cmd_id=cmd_id)


def _array(root: dict[str, Any], name: str) -> list[Any]:
    value = root.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise CommandParseError(f"Cannot deserialize value of type `java.util.List` from '{name}'")
    return value


def _object(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CommandParseError("Cannot deserialize command: expected a JSON object")
    return raw


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if value is None:
        return 0
    if isinstance(value, bool):
        raise CommandParseError(f"Cannot coerce boolean to number for '{name}'")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise CommandParseError(f"Cannot deserialize value of type `long` from '{name}'")


def _string(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise CommandParseError(f"Cannot deserialize value of type `java.lang.String` from '{name}'")


def _bool(obj: dict[str, Any], name: str) -> bool:
    value = obj.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int):
        return value != 0
    raise CommandParseError(f"Cannot deserialize value of type `boolean` from '{name}'")


def _keys(obj: dict[str, Any]) -> tuple[str, ...] | None:
    """``keys`` is one comma-separated string in TB; empty or absent means every key."""
    raw = _string(obj, "keys")
    if not raw:
        return None
    # TB splits on "," into a set: duplicates collapse, blanks stay (they match no key).
    seen: dict[str, None] = {}
    for key in raw.split(","):
        seen.setdefault(key, None)
    return tuple(seen)
