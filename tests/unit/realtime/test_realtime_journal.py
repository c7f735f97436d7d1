"""The journal admits each update once, numbers it and keeps a bounded window for resume."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from petit.realtime.journal import Journal, MemoryJournal, RedisJournal

if TYPE_CHECKING:
    from redis.asyncio import Redis

pytestmark = pytest.mark.unit


async def _check(journal: Journal) -> None:
    device, other = uuid.uuid4(), uuid.uuid4()
    first = await journal.append(device, "f1", {"type": "deviceData", "data": {"deviceId": str(device)}})
    assert first is not None
    # A second process delivering the same update is refused.
    assert (
        await journal.append(device, "f1", {"type": "deviceData", "data": {"deviceId": str(device)}}) is None
    )
    numbered = [await journal.append(device, f"g{i}", {"i": i}) for i in range(5)]
    await journal.append(other, "h", {"i": 99})
    seqs = [m["seq"] for m in numbered if m is not None]
    assert seqs == sorted(seqs)
    assert seqs[0] > first["seq"]
    since = await journal.since([device], seqs[1])
    assert [m["i"] for m in since] == [2, 3, 4]
    # The window keeps the last three per device only.
    assert [m["i"] for m in await journal.since([device], 0)] == [2, 3, 4]


async def test_memory_journal() -> None:
    await _check(MemoryJournal(window=3, ttl_s=60))


@pytest.mark.integration
async def test_redis_journal(redis_client: Redis, redis_prefix: str) -> None:
    await _check(RedisJournal(redis_client, prefix=redis_prefix, window=3, ttl_s=60))
