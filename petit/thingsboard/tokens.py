"""ThingsBoard JWTs shared by every petit worker, refreshed ahead of expiry, one refresh at a time.

A ``TokenManager`` keeps a per-process copy of each token pair and falls back to a ``TokenStore`` (Redis
in production, memory in embedded dev mode and unit tests) shared by all workers. When the shared pair is
about to expire, exactly one worker refreshes it under the store's lock while the others wait and reuse
its result, so ThingsBoard sees one login per deployment and one refresh per token lifetime, whatever the
load.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from petit.thingsboard.errors import ThingsBoardAuthError
from petit.thingsboard.models import TokenPair

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

Clock = Callable[[], float]
LoginFn = Callable[[], Awaitable[TokenPair]]
RefreshFn = Callable[[str], Awaitable[TokenPair]]


class TokenStoreError(Exception):
    """The shared store failed; the manager carries on with per-process tokens instead of failing."""


class TokenStore(Protocol):
    async def load(self, key: str) -> TokenPair | None: ...

    async def save(self, key: str, pair: TokenPair, ttl_s: float) -> None: ...

    async def discard(self, key: str, access: str) -> None:
        """Forget the pair under ``key`` only if it still holds ``access`` (a newer one may be there)."""

    def lock(self, key: str, *, hold_s: float, wait_s: float) -> AbstractAsyncContextManager[None]:
        """Exclusive across workers sharing the store; ``TokenStoreError`` if not got in ``wait_s``."""


def _encode(pair: TokenPair) -> str:
    return json.dumps(asdict(pair))


def _decode(raw: str | bytes | None) -> TokenPair | None:
    if raw is None:
        return None
    try:
        return TokenPair(**json.loads(raw))
    except (ValueError, TypeError):
        return None


class MemoryTokenStore:
    """One process's store: for embedded dev mode (no Redis) and for tests simulating several workers."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._items: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self, key: str) -> TokenPair | None:
        item = self._items.get(key)
        if item is None or item[1] <= self._clock():
            return None
        return _decode(item[0])

    async def save(self, key: str, pair: TokenPair, ttl_s: float) -> None:
        self._items[key] = (_encode(pair), self._clock() + ttl_s)

    async def discard(self, key: str, access: str) -> None:
        current = await self.load(key)
        if current is not None and current.access == access:
            self._items.pop(key, None)

    @asynccontextmanager
    async def lock(self, key: str, *, hold_s: float, wait_s: float) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), wait_s)
        except TimeoutError as exc:
            raise TokenStoreError(f"lock {key} busy") from exc
        try:
            yield
        finally:
            lock.release()


# Compare-and-delete: a worker that saw a token rejected must not delete a newer one another worker stored.
_DISCARD_SCRIPT = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['access'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenStore:
    def __init__(self, redis: Redis[Any]) -> None:
        self._redis = redis
        self._discard = redis.register_script(_DISCARD_SCRIPT)

    async def load(self, key: str) -> TokenPair | None:
        try:
            raw = await self._redis.get(key)
        except Exception as exc:
            raise TokenStoreError(f"redis get failed: {type(exc).__name__}") from exc
        return _decode(raw)

    async def save(self, key: str, pair: TokenPair, ttl_s: float) -> None:
        try:
            await self._redis.set(key, _encode(pair), px=max(1, int(ttl_s * 1000)))
        except Exception as exc:
            raise TokenStoreError(f"redis set failed: {type(exc).__name__}") from exc

    async def discard(self, key: str, access: str) -> None:
        try:
            await self._discard(keys=[key], args=[access])
        except Exception as exc:
            raise TokenStoreError(f"redis discard failed: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def lock(self, key: str, *, hold_s: float, wait_s: float) -> AsyncIterator[None]:
        # hold_s bounds how long a crashed worker can block the others.
        lock = self._redis.lock(key, timeout=hold_s, blocking_timeout=wait_s)
        try:
            acquired = await lock.acquire()
        except Exception as exc:
            raise TokenStoreError(f"redis lock failed: {type(exc).__name__}") from exc
        if not acquired:
            raise TokenStoreError(f"lock {key} busy")
        try:
            yield
        finally:
            with suppress(Exception):
                await lock.release()


@dataclass(slots=True)
class TokenStats:
    """What this process asked ThingsBoard for; the bench sums these over workers."""

    logins: int = 0
    refreshes: int = 0
    store_failures: int = 0


class TokenManager:
    def __init__(
        self,
        store: TokenStore,
        *,
        clock: Clock = time.time,
        skew_s: float = 60.0,
        lock_hold_s: float = 15.0,
        lock_wait_s: float = 10.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._skew_s = skew_s
        self._lock_hold_s = lock_hold_s
        self._lock_wait_s = lock_wait_s
        self._local: dict[str, TokenPair] = {}
        self._process_locks: dict[str, asyncio.Lock] = {}
        self.stats = TokenStats()

    def _fresh(self, pair: TokenPair) -> bool:
        # Short-lived tokens (tests, benches) would be stale forever under a fixed skew: cap it.
        life = max(0.0, pair.access_exp - pair.issued_at)
        return self._clock() < pair.access_exp - min(self._skew_s, life / 4)

    def _refreshable(self, pair: TokenPair | None) -> str | None:
        if pair is None or pair.refresh is None:
            return None
        if pair.refresh_exp is not None and pair.refresh_exp - 5 <= self._clock():
            return None
        return pair.refresh

    def cached(self, key: str) -> TokenPair | None:
        pair = self._local.get(key)
        return pair if pair is not None and self._fresh(pair) else None

    async def get(self, key: str, *, login: LoginFn, refresh: RefreshFn) -> TokenPair:
        """A fresh pair for ``key``: local, else shared, else from ThingsBoard (single-flight)."""
        pair = self.cached(key)
        if pair is not None:
            return pair
        async with self._process_locks.setdefault(key, asyncio.Lock()):
            pair = self.cached(key)
            if pair is not None:
                return pair
            shared = await self._load(key)
            if shared is not None and self._fresh(shared):
                self._local[key] = shared
                return shared
            async with self._shared_lock(key):
                shared = await self._load(key)
                if shared is not None and self._fresh(shared):
                    self._local[key] = shared
                    return shared
                pair = await self._obtain(shared or self._local.get(key), login=login, refresh=refresh)
                await self._save(key, pair)
                self._local[key] = pair
                return pair

    async def invalidate(self, key: str, access: str) -> None:
        """ThingsBoard refused ``access`` before it expired (restart, logout): stop handing it out."""
        if (local := self._local.get(key)) is not None and local.access == access:
            del self._local[key]
        try:
            await self._store.discard(key, access)
        except TokenStoreError:
            self.stats.store_failures += 1

    async def _obtain(self, previous: TokenPair | None, *, login: LoginFn, refresh: RefreshFn) -> TokenPair:
        refresh_token = self._refreshable(previous)
        if refresh_token is not None:
            try:
                pair = await refresh(refresh_token)
            except ThingsBoardAuthError:
                log.info("thingsboard.token.refresh_refused")
            else:
                self.stats.refreshes += 1
                return pair
        pair = await login()
        self.stats.logins += 1
        return pair

    async def _load(self, key: str) -> TokenPair | None:
        try:
            return await self._store.load(key)
        except TokenStoreError:
            self.stats.store_failures += 1
            return None

    async def _save(self, key: str, pair: TokenPair) -> None:
        # Keep the pair while its refresh token can still renew it; that is what saves the next login.
        until = pair.refresh_exp if pair.refresh_exp is not None else pair.access_exp
        try:
            await self._store.save(key, pair, max(1.0, until - self._clock()))
        except TokenStoreError:
            self.stats.store_failures += 1

    @asynccontextmanager
    async def _shared_lock(self, key: str) -> AsyncIterator[None]:
        try:
            cm = self._store.lock(f"{key}:lock", hold_s=self._lock_hold_s, wait_s=self._lock_wait_s)
            await cm.__aenter__()
        except TokenStoreError:
            # Degrade to per-process refresh: more logins, but requests keep working without the store.
            self.stats.store_failures += 1
            yield
            return
        try:
            yield
        finally:
            await cm.__aexit__(None, None, None)


__all__ = [
    "MemoryTokenStore",
    "RedisTokenStore",
    "TokenManager",
    "TokenStats",
    "TokenStore",
    "TokenStoreError",
]
