"""Sequence numbers, de-duplication and the resume window.

Every petit process watching a device receives the same ThingsBoard update. The journal admits each update
once (by fingerprint), gives it the next deployment-wide sequence number and keeps the last few per device,
so a client reconnecting to any process can ask for what followed its last sequence.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from uuid import UUID

    from redis.asyncio import Redis

Message = dict[str, Any]


class Journal(Protocol):
    #: ``append`` also publishes on ``channel`` (in the same round trip) when it is given one.
    publishes: bool

    async def append(
        self, device_id: UUID, fingerprint: str, message: Message, *, channel: str | None = None
    ) -> Message | None:
        """``message`` with its ``seq`` set, or None when another process already admitted it. With
        ``channel`` and ``publishes``, the numbered message is also published there."""

    async def since(self, device_ids: Iterable[UUID], seq: int) -> list[Message]:
        """Journaled messages of ``device_ids`` after ``seq``, in sequence order."""

    async def head(self) -> int:
        """The newest sequence number given so far (0 before the first)."""


# Admit once, number, journal (as "<seq> <json>"), atomically: two processes racing on one update must not
# both publish it.
_APPEND = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then
  return false
end
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], seq .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if KEYS[4] then
  -- The numbered message, published in the same round trip: '{"seq":N,' followed by the rest of the object.
  redis.call('PUBLISH', KEYS[4], '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2))
end
return seq
"""


class RedisJournal:
    publishes = True

    def __init__(self, redis: Redis[Any], *, prefix: str, window: int, ttl_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window = window
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._append = redis.register_script(_APPEND)

    def _journal_key(self, device_id: UUID) -> str:
        return f"{self._prefix}rt:journal:{device_id}"

    async def append(
        self, device_id: UUID, fingerprint: str, message: Message, *, channel: str | None = None
    ) -> Message | None:
        keys = [
            f"{self._prefix}rt:seq",
            self._journal_key(device_id),
            f"{self._prefix}rt:seen:{device_id}:{fingerprint}",
        ]
        if channel is not None:
            keys.append(channel)
        # A non-empty object, so the script can splice the sequence number in after its "{".
        body = json.dumps(message, separators=(",", ":"))
        seq = await self._append(keys=keys, args=[body, self._window, self._ttl_ms])
        if not seq:
            return None
        return dict(message, seq=int(seq))

    async def since(self, device_ids: Iterable[UUID], seq: int) -> list[Message]:
        keys = [self._journal_key(d) for d in device_ids]
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.lrange(key, 0, -1)
            lists = await pipe.execute()
        found: list[Message] = []
        for items in lists:
            for raw in items:
                head, _, body = raw.partition(b" ")
                if int(head) > seq:
                    found.append(dict(json.loads(body), seq=int(head)))
        return sorted(found, key=lambda m: int(m["seq"]))

    async def head(self) -> int:
        return int(await self._redis.get(f"{self._prefix}rt:seq") or 0)


class MemoryJournal:
    """One process's journal (no Redis configured): same contract, nothing shared; it does not publish."""

    publishes = False

    def __init__(self, *, window: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._ttl_s = ttl_s
        self._clock = clock
        self._seq = 0
        self._items: dict[UUID, deque[Message]] = {}
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def append(
        self, device_id: UUID, fingerprint: str, message: Message, *, channel: str | None = None
    ) -> Message | None:
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) <= now:
            self._seen.popitem(last=False)
        key = f"{device_id}:{fingerprint}"
        if key in self._seen:
            return None
        self._seen[key] = now + self._ttl_s
        self._seq += 1
        numbered = dict(message, seq=self._seq)
        self._items.setdefault(device_id, deque(maxlen=self._window)).append(numbered)
        return numbered

    async def since(self, device_ids: Iterable[UUID], seq: int) -> list[Message]:
        found = [m for d in device_ids for m in self._items.get(d, ()) if int(m["seq"]) > seq]
        return sorted(found, key=lambda m: int(m["seq"]))

    async def head(self) -> int:
        return self._seq
