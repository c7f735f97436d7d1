"""One client stream (a WebSocket or an SSE response) and its bounded, coalescing send queue.

A slow client never makes memory grow: pending data is kept as one message per (device, event type) whose
readings merge to the latest value per key, so the queue is bounded by the devices the client watches. Control
frames (errors, warnings, revocations) have their own small bound; overflowing it drops the client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict, deque
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


@dataclass(slots=True)
class SessionStats:
    sent: int = 0
    coalesced: int = 0


@dataclass(eq=False)
class Session:
    claims: AccessClaims
    token: str
    max_pending_control: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
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
    stats: SessionStats = field(default_factory=SessionStats)
    _control: deque[Message] = field(default_factory=deque)
    _data: OrderedDict[tuple[uuid.UUID, str], Message] = field(default_factory=OrderedDict)
    #: Resumed events, sent one by one before live data: a resume must not coalesce away what was missed.
    _replay: deque[Message] = field(default_factory=deque)
    _last_seq: dict[uuid.UUID, int] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_id(self) -> uuid.UUID:
        return self.claims.user_id

    @property
    def watching(self) -> set[uuid.UUID]:
        """Devices whose events this stream receives."""
        if self.selected is None:
            return set(self.owned)
        return self.owned & self.selected

    @property
    def pending(self) -> int:
        return len(self._control) + len(self._data)

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
        if len(self._control) >= self.max_pending_control:
            self.close(1008, "Client too slow.")
            return
        self._control.append(message)
        self._wake.set()

    def offer(self, message: Message) -> None:
        """Queue a device event if this stream should see it (ownership, selection, keys)."""
        data = message.get("data") or {}
        try:
            device_id = uuid.UUID(str(data.get("deviceId")))
        except ValueError:
            return
        if self.closing is not None or device_id not in self.watching:
            return
        seq = int(message.get("seq", 0))
        if seq and seq <= self._last_seq.get(device_id, 0):
            return  # already delivered (resume replay overlapping live data)
        kind = str(message.get("type"))
        if kind == "deviceData":
            readings = data.get("readings") or {}
            if self.keys is not None:
                readings = {k: v for k, v in readings.items() if k in self.keys}
            if not readings:
                return
            message = {"type": kind, "seq": seq, "data": {"deviceId": str(device_id), "readings": readings}}
        slot = (device_id, kind)
        previous = self._data.get(slot)
        if previous is not None and kind == "deviceData":
            self.stats.coalesced += 1
            merged = dict(previous["data"]["readings"])
            for key, reading in message["data"]["readings"].items():
                old = merged.get(key)
                if old is None or int(reading["ts"]) >= int(old["ts"]):
                    merged[key] = reading
            message = {
                "type": kind,
                "seq": max(seq, int(previous["seq"])),
                "data": {"deviceId": str(device_id), "readings": merged},
            }
        elif previous is not None:
            self.stats.coalesced += 1
        self._data[slot] = message
        self._data.move_to_end(slot)
        self._wake.set()

    def replay(self, messages: list[Message]) -> None:
        """Queue missed events (already bounded by the resume window) ahead of live data."""
        for message in messages:
            filtered = self._filtered(message)
            if filtered is not None:
                self._replay.append(filtered)
        self._wake.set()

    def _filtered(self, message: Message) -> Message | None:
        data = message.get("data") or {}
        try:
            device_id = uuid.UUID(str(data.get("deviceId")))
        except ValueError:
            return None
        if device_id not in self.watching:
            return None
        if message.get("type") != "deviceData" or self.keys is None:
            return message
        readings = {k: v for k, v in (data.get("readings") or {}).items() if k in self.keys}
        if not readings:
            return None
        return {**message, "data": {"deviceId": str(device_id), "readings": readings}}

    def drop_device(self, device_id: uuid.UUID) -> None:
        self.owned.discard(device_id)
        for slot in [s for s in self._data if s[0] == device_id]:
            del self._data[slot]

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = Closing(code, reason)
        self._wake.set()

    async def next_message(self, timeout_s: float | None = None) -> Message | None:
        """The next frame to send; None when the stream is closing or nothing came within ``timeout_s``."""
        while True:
            if self._control:
                return self._outgoing(self._control.popleft())
            if self.closing is not None:
                return None
            if self.expired:
                pass
            elif self._replay:
                message = self._replay.popleft()
                if self._deliverable(message):
                    return self._outgoing(message)
                continue
            elif self._data:
                _, message = self._data.popitem(last=False)
                if self._deliverable(message):
                    return self._outgoing(message)
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()
            except TimeoutError:
                return None

    def _deliverable(self, message: Message) -> bool:
        """Skip what was already sent (live data overlapping a resume); record the rest as sent."""
        seq = int(message.get("seq", 0))
        if seq:
            device_id = uuid.UUID(str(message["data"]["deviceId"]))
            if seq <= self._last_seq.get(device_id, 0) or device_id not in self.watching:
                return False
            self._last_seq[device_id] = seq
        self.stats.sent += 1
        return True

    def wake(self) -> None:
        self._wake.set()
