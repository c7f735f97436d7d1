from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING

import pytest

from petit.thingsboard.errors import ThingsBoardAuthError
from petit.thingsboard.models import TokenPair
from petit.thingsboard.tokens import MemoryTokenStore, TokenManager, TokenStoreError

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

pytestmark = pytest.mark.unit

LIFETIME = 900.0
REFRESH_LIFETIME = 7 * 86400.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeThingsBoardAuth:
    """Counts what a ThingsBoard would see; mints pairs valid from the fake clock's now."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.logins = 0
        self.refreshes = 0
        self.refuse_refresh = False
        self._serial = itertools.count()

    def _mint(self) -> TokenPair:
        n = next(self._serial)
        return TokenPair(
            access=f"access-{n}",
            refresh=f"refresh-{n}",
            access_exp=self.clock.now + LIFETIME,
            refresh_exp=self.clock.now + REFRESH_LIFETIME,
            issued_at=self.clock.now,
        )

    async def login(self) -> TokenPair:
        self.logins += 1
        await asyncio.sleep(0)  # let competing coroutines pile up behind the lock
        return self._mint()

    async def refresh(self, refresh_token: str) -> TokenPair:
        assert refresh_token.startswith("refresh-")
        self.refreshes += 1
        await asyncio.sleep(0)
        if self.refuse_refresh:
            raise ThingsBoardAuthError("Token has expired", status=401)
        return self._mint()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tb(clock: FakeClock) -> FakeThingsBoardAuth:
    return FakeThingsBoardAuth(clock)


def _workers(clock: FakeClock, store: MemoryTokenStore, n: int = 2) -> list[TokenManager]:
    return [TokenManager(store, clock=clock, skew_s=60.0) for _ in range(n)]


async def _get_many(managers: list[TokenManager], tb: FakeThingsBoardAuth, calls: int) -> set[str]:
    results = await asyncio.gather(
        *(managers[i % len(managers)].get("tenant", login=tb.login, refresh=tb.refresh) for i in range(calls))
    )
    return {pair.access for pair in results}


async def test_concurrent_workers_share_one_login(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    store = MemoryTokenStore(clock)
    managers = _workers(clock, store, n=4)
    tokens = await _get_many(managers, tb, calls=200)
    assert tb.logins == 1
    assert tb.refreshes == 0
    assert len(tokens) == 1


async def test_refresh_happens_once_before_expiry(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    store = MemoryTokenStore(clock)
    managers = _workers(clock, store, n=3)
    first = await _get_many(managers, tb, calls=30)

    clock.now += LIFETIME - 90  # still outside the 60 s margin
    assert await _get_many(managers, tb, calls=30) == first
    assert tb.refreshes == 0

    clock.now += 40  # inside the margin, 50 s before expiry
    second = await _get_many(managers, tb, calls=30)
    assert second != first
    assert (tb.logins, tb.refreshes) == (1, 1)


async def test_one_refresh_per_lifetime_over_many_lifetimes(
    clock: FakeClock, tb: FakeThingsBoardAuth
) -> None:
    store = MemoryTokenStore(clock)
    managers = _workers(clock, store, n=4)
    for _ in range(10 * 6):  # ten lifetimes, sampled every LIFETIME / 6
        await _get_many(managers, tb, calls=20)
        clock.now += LIFETIME / 6
    assert tb.logins == 1
    assert 9 <= tb.refreshes <= 11


async def test_refused_refresh_falls_back_to_login(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    manager = TokenManager(MemoryTokenStore(clock), clock=clock)
    await manager.get("tenant", login=tb.login, refresh=tb.refresh)
    tb.refuse_refresh = True
    clock.now += LIFETIME
    pair = await manager.get("tenant", login=tb.login, refresh=tb.refresh)
    assert pair.access_exp > clock.now
    assert (tb.logins, tb.refreshes) == (2, 1)
    assert (manager.stats.logins, manager.stats.refreshes) == (2, 0)


async def test_expired_refresh_token_means_login(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    manager = TokenManager(MemoryTokenStore(clock), clock=clock)
    await manager.get("tenant", login=tb.login, refresh=tb.refresh)
    clock.now += REFRESH_LIFETIME + 1
    await manager.get("tenant", login=tb.login, refresh=tb.refresh)
    assert (tb.logins, tb.refreshes) == (2, 0)


async def test_short_lifetimes_still_cache(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    # A 10 s token under a 60 s skew must not be "stale" from birth.
    async def short_login() -> TokenPair:
        tb.logins += 1
        return TokenPair("a", "r", clock.now + 10, clock.now + 100, issued_at=clock.now)

    manager = TokenManager(MemoryTokenStore(clock), clock=clock, skew_s=60.0)
    for _ in range(5):
        await manager.get("tenant", login=short_login, refresh=tb.refresh)
    assert tb.logins == 1


async def test_invalidate_drops_only_the_rejected_token(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    store = MemoryTokenStore(clock)
    a, b = _workers(clock, store)
    first = await a.get("tenant", login=tb.login, refresh=tb.refresh)

    await a.invalidate("tenant", "some-other-token")
    assert await b.get("tenant", login=tb.login, refresh=tb.refresh) == first

    await a.invalidate("tenant", first.access)
    second = await a.get("tenant", login=tb.login, refresh=tb.refresh)
    assert second.access != first.access
    # Worker b still holds the old token locally until ThingsBoard rejects it there too.
    await b.invalidate("tenant", first.access)
    assert await b.get("tenant", login=tb.login, refresh=tb.refresh) == second


async def test_keys_are_independent(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    manager = TokenManager(MemoryTokenStore(clock), clock=clock)
    tenant = await manager.get("tenant", login=tb.login, refresh=tb.refresh)
    user = await manager.get("user:1", login=tb.login, refresh=tb.refresh)
    assert tenant != user
    assert tb.logins == 2


class BrokenStore:
    async def load(self, key: str) -> TokenPair | None:
        raise TokenStoreError("down")

    async def save(self, key: str, pair: TokenPair, ttl_s: float) -> None:
        raise TokenStoreError("down")

    async def discard(self, key: str, access: str) -> None:
        raise TokenStoreError("down")

    def lock(self, key: str, *, hold_s: float, wait_s: float) -> AbstractAsyncContextManager[None]:
        raise TokenStoreError("down")


async def test_store_outage_degrades_to_per_process_tokens(clock: FakeClock, tb: FakeThingsBoardAuth) -> None:
    manager = TokenManager(BrokenStore(), clock=clock)
    tokens = {
        p.access
        for p in await asyncio.gather(
            *(manager.get("tenant", login=tb.login, refresh=tb.refresh) for _ in range(20))
        )
    }
    assert len(tokens) == 1
    assert tb.logins == 1
    assert manager.stats.store_failures >= 2
    await manager.invalidate("tenant", tokens.pop())


async def test_memory_store_lock_times_out(clock: FakeClock) -> None:
    store = MemoryTokenStore(clock)
    async with store.lock("k", hold_s=1, wait_s=1):
        with pytest.raises(TokenStoreError):
            async with store.lock("k", hold_s=1, wait_s=0.01):
                pass


async def test_memory_store_expires_entries(clock: FakeClock) -> None:
    store = MemoryTokenStore(clock)
    pair = TokenPair("a", None, clock.now + 10, None)
    await store.save("k", pair, ttl_s=10)
    assert await store.load("k") == pair
    clock.now += 11
    assert await store.load("k") is None
