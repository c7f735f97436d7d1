"""One client stream (a WebSocket or an SSE response) and its bounded, coalescing send queue.

A slow client never makes memory grow: pending data is kept as one message per (device, event type) whose
readings merge to the latest value per key, so the queue is bounded by the devices the client watches. Control
frames (errors, warnings, revocations) have their own small bound; overflowing it drops the client.

A process may hold thousands of streams, so a stream allocates its queues only once it has something to queue,
and a device event fanned out to many streams is parsed once and encoded once per distinct form (the id the
client knows the device by, the keys it asked for) rather than once per stream.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from petit.lib.security import AccessClaims

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Closing:
    """Why the stream ends; WebSockets use the code, SSE just ends the response."""

    code: int
    reason: str


class DeviceEvent:
    """A device event as it arrived on the device's channel, shared by every stream it is offered to."""

    __slots__ = ("_forms", "data", "device_id", "kind", "message", "readings", "seq")

    def __init__(self, message: Message, device_id: uuid.UUID) -> None:
        self.message = message
        self.device_id = device_id
        self.kind = str(message.get("type"))
        self.seq = int(message.get("seq", 0))
        data = message.get("data")
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        readings = self.data.get("readings") if self.kind == "deviceData" else None
        self.readings: dict[str, Any] = readings if isinstance(readings, dict) else {}
        #: (the device id the client knows, its keys) -> (message, its JSON), built on first use.
        self._forms: dict[tuple[uuid.UUID, frozenset[str] | None], tuple[Message, str]] | None = None

    @classmethod
    def parse(cls, message: Message) -> DeviceEvent | None:
        data = message.get("data") or {}
        try:
            device_id = uuid.UUID(str(data.get("deviceId")))
        except (ValueError, AttributeError):
            return None
        return cls(message, device_id)

    def shown(self, keys: frozenset[str] | None) -> bool:
        """Whether a stream asking for ``keys`` sees anything of this event."""
        if self.kind != "deviceData":
            return True
        if keys is None:
            return bool(self.readings)
        return any(k in keys for k in self.readings)

    def form(self, public: uuid.UUID, keys: frozenset[str] | None) -> tuple[Message, str]:
        forms = self._forms
        if forms is None:
            forms = self._forms = {}
        found = forms.get((public, keys))
        if found is None:
            message = self._build(public, keys)
            found = forms[(public, keys)] = (message, json.dumps(message))
        return found

    def _build(self, public: uuid.UUID, keys: frozenset[str] | None) -> Message:
        if self.kind == "deviceData":
            readings = self.readings
            if keys is not None:
                readings = {k: v for k, v in readings.items() if k in keys}
            return {
                "type": self.kind,
                "seq": self.seq,
                "data": {"deviceId": str(public), "readings": readings},
            }
        if public == self.device_id:
            return self.message
        return {**self.message, "data": {**self.data, "deviceId": str(public)}}


#: What waits in a stream's data queue: a shared event (sent as the stream sees it), or readings already
#: merged for this stream alone (a slow client's coalesced update).
Pending = DeviceEvent | Message


@dataclass(eq=False, slots=True)
class Session:
    claims: AccessClaims
    token: str
    max_pending_control: int
    #: Devices the user owns (kept current by revocation events).
    owned: set[uuid.UUID] = field(default_factory=set)
    #: Platform id -> the id the client knows (petit's device id); absent means the same.
    aliases: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    #: The devices the client asked for; ``None`` means all it owns.
    selected: frozenset[uuid.UUID] | None = None
    #: Telemetry keys the client asked for; ``None`` means every key.
    keys: frozenset[str] | None = None
    #: Set while the token is expired: data is held back until the client authenticates again.
    expired: bool = False
    closing: Closing | None = None
    sent: int = 0
    coalesced: int = 0
    _control: deque[Message] | None = None
    _data: dict[tuple[uuid.UUID, str], Pending] | None = None
    #: Resumed events, sent one by one before live data: a resume must not coalesce away what was missed.
    _replay: deque[Message] | None = None
    _last_seq: dict[uuid.UUID, int] = field(default_factory=dict)
    #: What the consumer awaits while the queue is empty; made only then.
    _waiter: asyncio.Future[None] | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.claims.user_id

    @property
    def watching(self) -> set[uuid.UUID]:
        """Devices whose events this stream receives."""
        if self.selected is None:
            return set(self.owned)
        return self.owned & self.selected

    def watches(self, device_id: uuid.UUID) -> bool:
        return device_id in self.owned and (self.selected is None or device_id in self.selected)

    @property
    def pending(self) -> int:
        return len(self._control or ()) + len(self._data or ())

    def own(self, devices: dict[uuid.UUID, uuid.UUID]) -> None:
        self.owned = set(devices)
        self.aliases = {platform: public for platform, public in devices.items() if platform != public}

    def resolve(self, public_ids: frozenset[uuid.UUID] | None) -> frozenset[uuid.UUID] | None:
        """Client-side ids (petit's) to platform ids; ids of devices it does not own select nothing."""
        if public_ids is None:
            return None
        reverse = {public: platform for platform, public in self.aliases.items()}
        return frozenset(reverse.get(d, d) for d in public_ids)

    def public(self, device_id: uuid.UUID) -> uuid.UUID:
        return self.aliases.get(device_id, device_id)

    def _outgoing(self, message: Message) -> Message:
        data = message.get("data")
        if not self.aliases or not isinstance(data, dict) or "deviceId" not in data:
            return message
        try:
            public = self.public(uuid.UUID(str(data["deviceId"])))
        except ValueError:
            return message
        return {**message, "data": {**data, "deviceId": str(public)}}

    def control(self, message: Message) -> None:
        if self.closing is not None:
            return
        if self._control is None:
            self._control = deque()
        if len(self._control) >= self.max_pending_control:
            self.close(1008, "Client too slow.")
            return
        self._control.append(message)
        self.wake()

    def offer(self, event: DeviceEvent | Message) -> None:
        """Queue a device event if this stream should see it (ownership, selection, keys)."""
        if not isinstance(event, DeviceEvent):
            parsed = DeviceEvent.parse(event)
            if parsed is None:
                return
            event = parsed
        device_id = event.device_id
        if self.closing is not None or not self.watches(device_id):
            return
        seq = event.seq
        if seq and seq <= self._last_seq.get(device_id, 0):
            return  # already delivered (resume replay overlapping live data)
        if not event.shown(self.keys):
            return
        slot = (device_id, event.kind)
        if self._data is None:
            self._data = {}
        previous = self._data.pop(slot, None)  # re-inserted last: the queue sends in order of last change
        if previous is None:
            self._data[slot] = event
        else:
            self.coalesced += 1
            self._data[slot] = self._merged(previous, event) if event.kind == "deviceData" else event
        self.wake()

    def _merged(self, previous: Pending, event: DeviceEvent) -> Message:
        """A slow client's pending update and a newer one: the latest reading per key, the newest sequence."""
        keys = self.keys
        if isinstance(previous, DeviceEvent):
            merged = {k: v for k, v in previous.readings.items() if keys is None or k in keys}
            seq = previous.seq
        else:
            merged = dict(previous["data"]["readings"])
            seq = int(previous["seq"])
        for key, reading in event.readings.items():
            if keys is not None and key not in keys:
                continue
            old = merged.get(key)
            if old is None or int(reading["ts"]) >= int(old["ts"]):
                merged[key] = reading
        return {
            "type": event.kind,
            "seq": max(event.seq, seq),
            "data": {"deviceId": str(event.device_id), "readings": merged},
        }

    def replay(self, messages: list[Message]) -> None:
        """Queue missed events (already bounded by the resume window) ahead of live data."""
        for message in messages:
            filtered = self._filtered(message)
            if filtered is not None:
                if self._replay is None:
                    self._replay = deque()
                self._replay.append(filtered)
        self.wake()

    def _filtered(self, message: Message) -> Message | None:
        data = message.get("data") or {}
        try:
            device_id = uuid.UUID(str(data.get("deviceId")))
        except ValueError:
            return None
        if not self.watches(device_id):
            return None
        if message.get("type") != "deviceData" or self.keys is None:
            return message
        readings = {k: v for k, v in (data.get("readings") or {}).items() if k in self.keys}
        if not readings:
            return None
        return {**message, "data": {"deviceId": str(device_id), "readings": readings}}

    def drop_device(self, device_id: uuid.UUID) -> None:
        self.owned.discard(device_id)
        if self._data:
            for slot in [s for s in self._data if s[0] == device_id]:
                del self._data[slot]

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = Closing(code, reason)
        self.wake()

    async def next_message(self, timeout_s: float | None = None) -> Message | None:
        """The next frame to send; None when the stream is closing or nothing came within ``timeout_s``."""
        found = await self._next(timeout_s)
        return found[0] if found is not None else None

    async def next_frame(self) -> str | None:
        """The next frame as JSON text, shared with the streams that see the same; None when closing."""
        found = await self._next(None)
        if found is None:
            return None
        message, text = found
        return text if text is not None else json.dumps(message)

    async def _next(self, timeout_s: float | None) -> tuple[Message, str | None] | None:
        while True:
            if self._control:
                return self._outgoing(self._control.popleft()), None
            if self.closing is not None:
                return None
            if self.expired:
                pass
            elif self._replay:
                message = self._replay.popleft()
                if self._deliverable(message):
                    return self._outgoing(message), None
                continue
            elif self._data:
                slot = next(iter(self._data))
                pending = self._data.pop(slot)
                if isinstance(pending, DeviceEvent):
                    if self._record(pending.device_id, pending.seq):
                        return pending.form(self.public(pending.device_id), self.keys)
                elif self._deliverable(pending):
                    return self._outgoing(pending), None
                continue
            if not await self._wait(timeout_s):
                return None

    async def _wait(self, timeout_s: float | None) -> bool:
        """Until something is queued (True) or ``timeout_s`` passes (False)."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            if timeout_s is None:
                await waiter
            else:
                async with asyncio.timeout(timeout_s):
                    await waiter
        except TimeoutError:
            return False
        finally:
            self._waiter = None
        return True

    def _deliverable(self, message: Message) -> bool:
        """Skip what was already sent (live data overlapping a resume); record the rest as sent."""
        seq = int(message.get("seq", 0))
        if seq:
            return self._record(uuid.UUID(str(message["data"]["deviceId"])), seq)
        self.sent += 1
        return True

    def _record(self, device_id: uuid.UUID, seq: int) -> bool:
        if seq:
            if seq <= self._last_seq.get(device_id, 0) or not self.watches(device_id):
                return False
            self._last_seq[device_id] = seq
        self.sent += 1
        return True

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
