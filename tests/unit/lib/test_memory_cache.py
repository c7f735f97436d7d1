from __future__ import annotations

from datetime import UTC, datetime

import pytest

from petit.lib.cache import MemoryCache

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=UTC)

    def monotonic(self) -> float:
        return self.t


async def test_set_expires() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    await cache.set("a", "1", ttl_s=10)
    assert await cache.get("a") == "1"
    assert await cache.exists_any("missing", "a")
    clock.t += 10
    assert await cache.get("a") is None
    assert not await cache.exists_any("a")


async def test_hit_counts_in_a_fixed_window() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock)
    assert await cache.hit("k", window_s=60) == (1, 60.0)
    clock.t += 20
    assert await cache.hit("k", window_s=60) == (2, 40.0)
    clock.t += 40
    assert await cache.hit("k", window_s=60) == (1, 60.0)


async def test_delete() -> None:
    cache = MemoryCache(FakeClock())
    await cache.set("a", "1", ttl_s=5)
    await cache.delete("a", "b")
    assert await cache.get("a") is None
