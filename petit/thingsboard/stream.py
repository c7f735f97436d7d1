"""Push from ThingsBoard: one WebSocket per petit process carrying one subscription per watched device.

This module is the only code that knows ThingsBoard's WebSocket JSON (``/api/ws``, ``authCmd``, ``TIMESERIES``
and ``ATTRIBUTES`` commands, ``subscriptionId`` updates with string values). It hands petit events to a
listener: ``DeviceReadings`` (latest sample per changed key, values still ThingsBoard's strings: typing them
needs a strict REST read, see ``petit.thingsboard.keytypes``) and ``DeviceConnectivity``
(derived from the connect/disconnect times ThingsBoard records as server attributes).

The socket reconnects with jittered exponential backoff and resubscribes everything watched; a refused token
is dropped from the shared token cache so the next attempt logs in afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from petit.lib.reconnect import Backoff, stop_task
from petit.thingsboard.mapping import typed_value
from petit.thingsboard.models import Reading, Value

if TYPE_CHECKING:
    from uuid import UUID

log = logging.getLogger(__name__)

_CONNECTIVITY_KEYS = "lastConnectTime,lastDisconnectTime"
#: Subscriptions per frame when resubscribing: ThingsBoard caps a text frame at 32 KiB.
_CMDS_PER_FRAME = 100
#: ThingsBoard closes with these when the token is bad or expired.
_AUTH_CLOSE_CODES = frozenset({1007, 1008, 1011})


@dataclass(frozen=True, slots=True)
class DeviceReadings:
    """New samples of one device: the latest per key that changed, values as the WebSocket sent them (strings
    from ThingsBoard); ``KeyTypes.typed`` gives them their stored types."""

    device_id: UUID
    readings: dict[str, Reading]


@dataclass(frozen=True, slots=True)
class DeviceConnectivity:
    device_id: UUID
    online: bool
    ts_ms: int


StreamEvent = DeviceReadings | DeviceConnectivity
StreamListener = Callable[[StreamEvent], None]
TokenSource = Callable[[], Awaitable[str]]
TokenInvalidator = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class StreamStats:
    connects: int = 0
    disconnects: int = 0
    updates: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Watch:
    device_id: UUID
    cmd_id: int
    last_connect_ms: int = 0
    last_disconnect_ms: int = 0
    online: bool | None = field(default=None)
    #: ThingsBoard answered the telemetry subscription on the current socket (its snapshot arrived).
    answered: bool = False


class ThingsBoardStream:
    """Watches devices over one ThingsBoard WebSocket; ``watch``/``unwatch`` are cheap and never block."""

    def __init__(
        self,
        ws_url: str,
        *,
        token: TokenSource,
        invalidate_token: TokenInvalidator,
        listener: StreamListener,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        open_timeout_s: float = 5.0,
    ) -> None:
        self._ws_url = ws_url
        self._token = token
        self._invalidate = invalidate_token
        self._listener = listener
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._open_timeout_s = open_timeout_s
        self._watches: dict[UUID, _Watch] = {}
        # Even ids carry telemetry, the next odd id the same device's connectivity attributes.
        self._by_cmd: dict[int, _Watch] = {}
        self._next_cmd = 2
        self._socket: ClientConnection | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.connected = asyncio.Event()
        self.stats = StreamStats()

    @property
    def watched(self) -> int:
        """Devices with a live ThingsBoard subscription request (the bench reports it)."""
        return len(self._watches)

    @property
    def answered(self) -> int:
        """Watched devices whose subscription ThingsBoard has answered on the current socket."""
        return sum(1 for watch in self._watches.values() if watch.answered)

    def is_live(self, device_id: UUID) -> bool:
        """The device's subscription is answered on the socket that is up now: every update ThingsBoard pushes
        for it arrives here (what lets petit answer reads from it)."""
        watch = self._watches.get(device_id)
        return watch is not None and watch.answered and self.connected.is_set()

    def watch(self, device_id: UUID) -> None:
        if device_id in self._watches or self._closed:
            return
        watch = _Watch(device_id=device_id, cmd_id=self._next_cmd)
        self._next_cmd += 2
        self._watches[device_id] = watch
        self._by_cmd[watch.cmd_id] = watch
        self._by_cmd[watch.cmd_id + 1] = watch
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="thingsboard-stream")
        elif self._socket is not None:
            self._outbox.put_nowait(json.dumps({"cmds": _subscribe_cmds(watch)}))

    def unwatch(self, device_id: UUID) -> None:
        watch = self._watches.pop(device_id, None)
        if watch is None:
            return
        self._by_cmd.pop(watch.cmd_id, None)
        self._by_cmd.pop(watch.cmd_id + 1, None)
        if self._socket is not None:
            self._outbox.put_nowait(json.dumps({"cmds": _unsubscribe_cmds(watch)}))

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    async def _run(self) -> None:
        backoff = Backoff(self._backoff_initial_s, self._backoff_max_s)
        while not self._closed:
            token: str | None = None
            try:
                token = await self._token()
                async with connect(
                    self._ws_url, open_timeout=self._open_timeout_s, max_size=16 * 1024 * 1024
                ) as socket:
                    await self._session(socket, token)
                    backoff.reset()
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                log.info("thingsboard.stream.closed", extra={"code": code})
                if code in _AUTH_CLOSE_CODES and token is not None:
                    await self._invalidate(token)
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                log.info("thingsboard.stream.connect_failed", extra={"error": type(exc).__name__})
            except Exception:
                # The token source raises ThingsBoard errors when ThingsBoard is down: retry like any outage.
                log.warning("thingsboard.stream.failed", exc_info=True)
            finally:
                self._socket = None
                self.connected.clear()
                for watch in self._watches.values():
                    watch.answered = False
            self.stats.disconnects += 1
            await backoff.wait()

    async def _session(self, socket: ClientConnection, token: str) -> None:
        # Drop commands queued for the previous socket: the full subscription set is sent below. The socket
        # is published before that set is taken, with no await in between: a watch() from then on queues its
        # own command (sent after the set), so none falls between the set and the queue.
        self._outbox = asyncio.Queue()
        self._socket = socket
        watches = list(self._watches.values())
        for watch in watches:
            watch.answered = False
        cmds = [cmd for watch in watches for cmd in _subscribe_cmds(watch)]
        first, rest = cmds[:_CMDS_PER_FRAME], cmds[_CMDS_PER_FRAME:]
        await socket.send(json.dumps({"authCmd": {"cmdId": 0, "token": token}, "cmds": first}))
        for start in range(0, len(rest), _CMDS_PER_FRAME):
            await socket.send(json.dumps({"cmds": rest[start : start + _CMDS_PER_FRAME]}))
        self.stats.connects += 1
        self.connected.set()
        sender = asyncio.get_running_loop().create_task(self._send_loop(socket))
        try:
            async for frame in socket:
                self._on_frame(frame)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send_loop(self, socket: ClientConnection) -> None:
        outbox = self._outbox
        while True:
            await socket.send(await outbox.get())

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            self.stats.errors += 1
            return
        if not isinstance(message, dict):
            return
        cmd_id = message.get("subscriptionId", message.get("cmdId"))
        if message.get("errorCode"):
            self.stats.errors += 1
            log.warning(
                "thingsboard.stream.subscription_error",
                extra={"cmd_id": cmd_id, "code": message.get("errorCode"), "reason": message.get("errorMsg")},
            )
            return
        watch = self._by_cmd.get(cmd_id) if isinstance(cmd_id, int) else None
        data = message.get("data")
        if watch is None or not isinstance(data, dict):
            return
        self.stats.updates += 1
        if cmd_id == watch.cmd_id:
            watch.answered = True
            readings = _latest(data, typed=False)
            if readings:
                self._emit(DeviceReadings(device_id=watch.device_id, readings=readings))
        else:
            self._on_connectivity(watch, _latest(data, typed=True))

    def _on_connectivity(self, watch: _Watch, values: dict[str, Reading]) -> None:
        for key, reading in values.items():
            number = reading.value
            if not isinstance(number, int | float) or isinstance(number, bool):
                continue
            if key == "lastConnectTime":
                watch.last_connect_ms = max(watch.last_connect_ms, int(number))
            elif key == "lastDisconnectTime":
                watch.last_disconnect_ms = max(watch.last_disconnect_ms, int(number))
        online = watch.last_connect_ms > watch.last_disconnect_ms
        if watch.online is not None and online == watch.online:
            return
        first = watch.online is None
        watch.online = online
        # The snapshot after subscribing states what was already true; only report it when the device is up,
        # so a never-connected device does not announce itself offline on every resubscribe.
        if first and not online:
            return
        ts = max(watch.last_connect_ms, watch.last_disconnect_ms)
        self._emit(DeviceConnectivity(device_id=watch.device_id, online=online, ts_ms=ts))

    def _emit(self, event: StreamEvent) -> None:
        try:
            self._listener(event)
        except Exception:
            log.exception("thingsboard.stream.listener_failed")


def _subscribe_cmds(watch: _Watch) -> list[dict[str, Any]]:
    device = str(watch.device_id)
    return [
        {"type": "TIMESERIES", "entityType": "DEVICE", "entityId": device, "cmdId": watch.cmd_id},
        {
            "type": "ATTRIBUTES",
            "entityType": "DEVICE",
            "entityId": device,
            "scope": "SERVER_SCOPE",
            "keys": _CONNECTIVITY_KEYS,
            "cmdId": watch.cmd_id + 1,
        },
    ]


def _unsubscribe_cmds(watch: _Watch) -> list[dict[str, Any]]:
    return [dict(cmd, unsubscribe=True) for cmd in _subscribe_cmds(watch)]


def _latest(data: dict[str, Any], *, typed: bool) -> dict[str, Reading]:
    """The newest non-null ``[ts, "value"]`` per key; TB sends ``[now, null]`` for keys without data.

    ``typed`` reads numeric strings as numbers (connectivity timestamps); otherwise values stay as sent."""
    result: dict[str, Reading] = {}
    for key, samples in data.items():
        if not isinstance(samples, list):
            continue
        best: Reading | None = None
        for sample in samples:
            if not isinstance(sample, list | tuple) or len(sample) < 2 or sample[1] is None:
                continue
            ts = sample[0]
            if not isinstance(ts, int | float) or isinstance(ts, bool):
                continue
            if best is None or ts >= best.ts_ms:
                value = sample[1]
                best = Reading(ts_ms=int(ts), value=typed_value(value) if typed else _raw(value))
        if best is not None:
            result[str(key)] = best
    return result


def _raw(value: Any) -> Value:
    if isinstance(value, bool | int | float | str | dict | list):
        return value
    return str(value)


__all__ = [
    "DeviceConnectivity",
    "DeviceReadings",
    "StreamEvent",
    "StreamListener",
    "StreamStats",
    "ThingsBoardStream",
]
