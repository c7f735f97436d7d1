"""One authenticated (or pending) WebSocket session: its subscriptions and its outbound queue.

Slow-consumer policy: updates wait in a per-session FIFO of at most ``max_queue`` messages (TB's
``server.ws.max_queue_messages_per_session``, default 1000). When an update would exceed it, the session is
closed with 1008 ``Max pending updates limit reached!`` exactly as TB does, its queue is dropped and all its
listeners are removed, so a client that stops reading costs at most ``max_queue`` messages of memory, then
nothing. Answers to the client's own commands are the exception: while more than half the queue is unsent, its
next command waits (and so does reading its socket), so one frame may subscribe to any number of entities.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import jwt

from thingsboard_emulator.contracts import (
    AttributeScope,
    AttributesUpdate,
    Principal,
    TelemetryReader,
    TimeseriesUpdate,
)
from thingsboard_emulator.ws._commands import (
    Cmd,
    CommandParseError,
    HistoryCmd,
    SubscriptionCmd,
    parse_message,
)
from thingsboard_emulator.ws._encoding import (
    BAD_REQUEST,
    FAILED_TO_FETCH_ATTRIBUTES,
    FAILED_TO_FETCH_DATA,
    FAILED_TO_PARSE,
    INTERNAL_ERROR,
    data_update,
    error_update,
)

logger = logging.getLogger(__name__)

# WebSocket close codes TB uses.
CLOSE_BAD_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_SERVER_ERROR = 1011

DEFAULT_MAX_QUEUE = 1000
REASON_INVALID_JWT = "Invalid JWT token: "
REASON_EXPIRED_JWT = "JWT Token expired"
DEFAULT_LIMIT = 100

_ATTRIBUTE_SCOPES: frozenset[str] = frozenset({"CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE"})
_AGGREGATIONS = frozenset({"MIN", "MAX", "AVG", "SUM", "COUNT", "NONE"})
# TB's EntityType names that can carry telemetry or attributes.
_ENTITY_TYPES = frozenset(
    {
        "TENANT",
        "CUSTOMER",
        "USER",
        "DASHBOARD",
        "ASSET",
        "DEVICE",
        "ALARM",
        "RULE_CHAIN",
        "RULE_NODE",
        "ENTITY_VIEW",
        "WIDGETS_BUNDLE",
        "WIDGET_TYPE",
        "TENANT_PROFILE",
        "DEVICE_PROFILE",
        "ASSET_PROFILE",
        "API_USAGE_STATE",
        "TB_RESOURCE",
        "OTA_PACKAGE",
        "EDGE",
        "RPC",
        "QUEUE",
    }
)

SendText = Callable[[str], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]


class _CmdRejectedError(Exception):
    """A command TB answers with an error update instead of data."""

    def __init__(self, error_code: int, message: str | None):
        super().__init__(message)
        self.error_code = error_code
        self.error_msg = message


@dataclass(slots=True)
class _Subscription:
    cmd_id: int
    kind: str
    keys: frozenset[str] | None
    scope: str | None
    latest_only: bool
    key_ts: dict[str, int] = field(default_factory=dict)
    cancel: Callable[[], None] | None = None


class WsSession:
    """Command handling and update delivery for one socket; every method runs on the emulator's loop."""

    def __init__(
        self,
        reader: TelemetryReader,
        send_text: SendText,
        close_socket: CloseSocket,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        api_key_auth: bool = False,
    ) -> None:
        self._reader = reader
        self._api_key_auth = api_key_auth
        self._send_text = send_text
        self._close_socket = close_socket
        self._max_queue = max_queue
        self._queue: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._room: asyncio.Event | None = None
        self._subs: dict[int, _Subscription] = {}
        self._close_request: tuple[int, str] | None = None
        self.closed = asyncio.Event()
        self.principal: Principal | None = None

    # ----- lifecycle ------------------------------------------------------------

    @property
    def subscription_count(self) -> int:
        return len(self._subs)

    @property
    def close_requested(self) -> bool:
        return self._close_request is not None

    @property
    def pending(self) -> int:
        return len(self._queue)

    def request_close(self, code: int, reason: str) -> None:
        """Close the socket after nothing else is sent; listeners go at once so nothing more is queued."""
        if self._close_request is not None:
            return
        self._close_request = (code, reason)
        self._queue.clear()
        self.cancel_all()
        self._wakeup.set()
        self._signal_room()

    def cancel_all(self) -> None:
        subs, self._subs = self._subs, {}
        for sub in subs.values():
            if sub.cancel is not None:
                sub.cancel()

    async def run_sender(self) -> None:
        """Drain the outbound queue in order; performs the requested close, if any, then returns."""
        queue = self._queue
        try:
            while True:
                while queue and self._close_request is None:
                    await self._send_text(queue.popleft())
                    if self._room is not None and len(queue) <= self._max_queue // 2:
                        self._signal_room()
                if self._close_request is not None:
                    code, reason = self._close_request
                    await self._close_socket(code, reason)
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
        except asyncio.CancelledError:
            raise
        except Exception:  # any send failure means the peer is gone; the session just ends
            logger.debug("WebSocket send failed; ending session", exc_info=True)
        finally:
            self.cancel_all()
            self._queue.clear()
            self.closed.set()
            self._signal_room()

    def _signal_room(self) -> None:
        room, self._room = self._room, None
        if room is not None:
            room.set()

    async def _wait_for_room(self) -> None:
        """Hold off the client's next command while half the queue is still unsent.

        Answers to the client's own commands must not trip the slow-consumer bound merely because one frame
        asked for many subscriptions; pausing its commands pushes back on the client instead.
        """
        while (
            len(self._queue) > self._max_queue // 2
            and self._close_request is None
            and not self.closed.is_set()
        ):
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()

    def _enqueue(self, message: str) -> None:
        if self._close_request is not None:
            return
        if len(self._queue) >= self._max_queue:
            self.request_close(CLOSE_POLICY_VIOLATION, "Max pending updates limit reached!")
            return
        self._queue.append(message)
        if len(self._queue) == 1:
            self._wakeup.set()

    # ----- inbound ------------------------------------------------------------

    async def handle_text(self, text: str) -> None:
        """Process one inbound frame; never raises."""
        try:
            message = parse_message(text, api_key_field=self._api_key_auth)
        except CommandParseError as exc:
            if self.principal is not None:
                self._enqueue(error_update(1, BAD_REQUEST, FAILED_TO_PARSE))
            else:
                self.request_close(CLOSE_BAD_DATA, str(exc)[:120])
            return
        if self.principal is None:
            if not message.has_auth:
                self.request_close(CLOSE_POLICY_VIOLATION, "Auth cmd is missing")
                return
            if message.auth_api_key:
                # TB 4.4: a non-empty apiKey wins over token.
                found = self._reader.authenticate_api_key(message.auth_api_key)
                if isinstance(found, str):
                    self.request_close(CLOSE_BAD_DATA, found[:120])
                    return
                self.principal = found
            else:
                principal = self._reader.authenticate_jwt(message.auth_token) if message.auth_token else None
                if principal is None:
                    self.request_close(CLOSE_BAD_DATA, token_failure_reason(message.auth_token))
                    return
                self.principal = principal
        for cmd in message.cmds:
            await self._wait_for_room()
            if self._close_request is not None or self.closed.is_set():
                return
            self._handle_cmd(cmd)

    def _handle_cmd(self, cmd: Cmd) -> None:
        try:
            if isinstance(cmd, SubscriptionCmd):
                self._handle_subscription(cmd)
            elif isinstance(cmd, HistoryCmd):
                self._handle_history(cmd)
        except _CmdRejectedError as exc:
            self._enqueue(error_update(cmd.cmd_id, exc.error_code, exc.error_msg))
        except Exception as exc:  # TB answers any handler failure with INTERNAL_ERROR
            logger.exception("WebSocket command failed")
            self._enqueue(error_update(cmd.cmd_id, INTERNAL_ERROR, str(exc)))

    def _handle_subscription(self, cmd: SubscriptionCmd) -> None:
        if cmd.unsubscribe:
            # TB: an unsubscribe without an entity id cancels every subscription of the session.
            if not cmd.entity_id:
                self.cancel_all()
            else:
                self._cancel(cmd.cmd_id)
            return
        _validate_cmd_id(cmd.cmd_id)
        if not cmd.entity_id:
            raise _CmdRejectedError(BAD_REQUEST, "Device id is empty!")
        entity_id = self._checked_entity(cmd.entity_type, cmd.entity_id)
        failure = FAILED_TO_FETCH_DATA if cmd.kind == "TIMESERIES" else FAILED_TO_FETCH_ATTRIBUTES
        if not self._can_read(cmd.entity_type, entity_id):
            raise _CmdRejectedError(INTERNAL_ERROR, failure)
        if cmd.kind == "TIMESERIES":
            snapshot = self._timeseries_snapshot(cmd, entity_id)
            sub = _Subscription(
                cmd.cmd_id, "TIMESERIES", _key_set(cmd.keys), None, cmd.scope == "LATEST_TELEMETRY"
            )
        else:
            if cmd.scope and cmd.scope not in _ATTRIBUTE_SCOPES:
                raise _CmdRejectedError(INTERNAL_ERROR, failure)
            scope = cast("AttributeScope | None", cmd.scope or None)
            attrs = self._reader.attributes(entity_id, scope, list(cmd.keys) if cmd.keys else None)
            snapshot = {key: [(ts, value)] for key, (ts, value) in attrs.items()}
            sub = _Subscription(cmd.cmd_id, "ATTRIBUTES", _key_set(cmd.keys), scope, latest_only=False)
        for key, entries in snapshot.items():
            if entries:
                sub.key_ts[key] = entries[0][0]
        # Re-using a cmdId replaces that subscription (TB would leak the old one, still sending under the id).
        self._cancel(cmd.cmd_id)
        self._enqueue(data_update(cmd.cmd_id, snapshot))
        sub.cancel = self._reader.events.subscribe(entity_id, self._listener(sub))
        self._subs[cmd.cmd_id] = sub

    def _timeseries_snapshot(self, cmd: SubscriptionCmd, entity_id: str) -> dict[str, list[tuple[int, Any]]]:
        if cmd.keys is None:
            latest = self._reader.latest_timeseries(entity_id, None)
            return {key: [entry] for key, entry in latest.items()}
        if cmd.time_window > 0:
            agg = _checked_agg(cmd.agg)
            return self._reader.timeseries_history(
                entity_id,
                list(cmd.keys),
                cmd.start_ts,
                cmd.start_ts + cmd.time_window,
                limit=cmd.limit or DEFAULT_LIMIT,
                agg=agg,
                interval=cmd.interval or None,
            )
        latest = self._reader.latest_timeseries(entity_id, list(cmd.keys))
        now = int(time.time() * 1000)
        # TB's findLatest answers a key without data with (now, null).
        return {key: [latest.get(key, (now, None))] for key in cmd.keys}

    def _handle_history(self, cmd: HistoryCmd) -> None:
        _validate_cmd_id(cmd.cmd_id)
        if not cmd.entity_id or not cmd.entity_type:
            raise _CmdRejectedError(BAD_REQUEST, "Device id is empty!")
        if not cmd.keys:
            raise _CmdRejectedError(BAD_REQUEST, "Keys are empty!")
        entity_id = self._checked_entity(cmd.entity_type, cmd.entity_id)
        agg = _checked_agg(cmd.agg)
        if not self._can_read(cmd.entity_type, entity_id):
            raise _CmdRejectedError(INTERNAL_ERROR, FAILED_TO_FETCH_DATA)
        data = self._reader.timeseries_history(
            entity_id,
            list(cmd.keys),
            cmd.start_ts,
            cmd.end_ts,
            limit=cmd.limit or DEFAULT_LIMIT,
            agg=agg,
            interval=cmd.interval or None,
        )
        self._enqueue(data_update(cmd.cmd_id, data))

    def _cancel(self, cmd_id: int) -> None:
        sub = self._subs.pop(cmd_id, None)
        if sub is not None and sub.cancel is not None:
            sub.cancel()

    def _checked_entity(self, entity_type: str | None, entity_id: str) -> str:
        if entity_type not in _ENTITY_TYPES:
            enum = "org.thingsboard.server.common.data.EntityType"
            raise _CmdRejectedError(INTERNAL_ERROR, f"No enum constant {enum}.{entity_type}")
        try:
            return str(uuid.UUID(entity_id))
        except ValueError:
            raise _CmdRejectedError(INTERNAL_ERROR, f"Invalid UUID string: {entity_id}") from None

    def _can_read(self, entity_type: str | None, entity_id: str) -> bool:
        assert self.principal is not None
        assert entity_type is not None
        return self._reader.can_read(self.principal, entity_type, entity_id)

    # ----- outbound ------------------------------------------------------------

    def _listener(self, sub: _Subscription) -> Callable[[TimeseriesUpdate | AttributesUpdate], None]:
        def on_change(update: TimeseriesUpdate | AttributesUpdate) -> None:
            # Runs inside the core's write path: filter, encode and queue, nothing that can block or raise.
            try:
                data = _filter(sub, update)
                if data:
                    self._enqueue(data_update(sub.cmd_id, data))
            except Exception:  # a bad value must not break the core's publish path
                logger.exception("Dropping a WebSocket update that could not be encoded")

        return on_change


def _filter(
    sub: _Subscription, update: TimeseriesUpdate | AttributesUpdate
) -> dict[str, list[tuple[int, Any]]] | None:
    keys = sub.keys
    if isinstance(update, TimeseriesUpdate):
        if sub.kind != "TIMESERIES":
            return None
        out: dict[str, list[tuple[int, Any]]] = {}
        for key, entries in update.values.items():
            if not entries or (keys is not None and key not in keys):
                continue
            if sub.latest_only:
                # LATEST_TELEMETRY subscriptions only move forward: the newest entry, if not older than known.
                newest = entries[0]
                if newest[0] < sub.key_ts.get(key, 0):
                    continue
                sub.key_ts[key] = newest[0]
                out[key] = [newest]
            else:
                out[key] = list(entries)
        return out
    if sub.kind != "ATTRIBUTES" or (sub.scope is not None and sub.scope != update.scope):
        return None
    attrs: dict[str, list[tuple[int, Any]]] = {}
    for key, (ts, value) in update.values.items():
        if keys is None or key in keys:
            attrs[key] = [(ts, value)]
    for key in update.deleted:
        if keys is None or key in keys:
            # TB notifies a deleted attribute as an entry with ts 0 and an empty string.
            attrs[key] = [(0, "")]
    return attrs


def _key_set(keys: tuple[str, ...] | None) -> frozenset[str] | None:
    return frozenset(keys) if keys is not None else None


def _validate_cmd_id(cmd_id: int) -> None:
    if cmd_id < 0:
        raise _CmdRejectedError(BAD_REQUEST, "Cmd id is negative value!")


def _checked_agg(agg: str | None) -> str:
    if not agg:
        return "NONE"
    if agg not in _AGGREGATIONS:
        raise _CmdRejectedError(
            INTERNAL_ERROR, f"No enum constant org.thingsboard.server.common.data.kv.Aggregation.{agg}"
        )
    return agg


def token_failure_reason(token: str | None) -> str:
    """TB's reason text for a refused JWT.

    TB 4.3 raises the same ``JwtExpiredTokenException`` ("JWT Token expired") for an expired token and for a
    bad signature; only a string that does not parse as a JWT at all gets "Invalid JWT token: ".
    """
    if token:
        try:
            jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return REASON_INVALID_JWT
        return REASON_EXPIRED_JWT
    return REASON_INVALID_JWT
