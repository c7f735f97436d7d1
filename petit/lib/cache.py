"""The small key-value protocol petit needs from Redis: revocation markers and throttling counters.

Redis backs it in any real deployment. :class:`MemoryCache` implements the same protocol for ``petit dev``
on a machine without Redis; it is per-process, so it is wrong behind a load balancer.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from redis.exceptions import RedisError

from petit.errors import CacheUnavailableError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from redis.asyncio import Redis

    from petit.lib.clock import Clock


T = TypeVar("T")


class Cache(Protocol):
    backend: str

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds (at least one)."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def exists_any(self, *keys: str) -> bool:
        """True when at least one of ``keys`` is present."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def hit(self, key: str, *, window_s: int) -> tuple[int, float]:
        """Count one event in the fixed window ``key``; return the count so far and seconds to reset."""
        ...

    async def ping(self) -> None:
        """Raise if the cache cannot answer."""
        ...

    async def publish(self, channel: str, message: str) -> None:
        """Tell every process subscribed to ``channel`` (a no-op where there is only this process)."""
        ...


class RedisCache:
    """Every command is bounded by ``timeout_s``; failures leave as ``CacheUnavailableError`` (503)."""

    backend = "redis"

    def __init__(self, redis: Redis[Any], *, prefix: str, timeout_s: float = 1.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._timeout_s = timeout_s

    def _k(self, key: str) -> str:
        return f"{self._prefix}{key}"

    async def _bounded(self, op: Awaitable[T]) -> T:
        # redis-py retries a refused connection with backoff and waits on a silent one indefinitely; a
        # request must learn within the timeout that Redis is gone, and say so (503), not crash (500).
        try:
            async with asyncio.timeout(self._timeout_s):
                return await op
        except TimeoutError:
            raise CacheUnavailableError(f"Redis did not answer within {self._timeout_s:g}s") from None
        except (RedisError, OSError) as exc:
            raise CacheUnavailableError(f"Redis failed: {type(exc).__name__}") from None

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        await self._bounded(self._redis.set(self._k(key), value, px=max(1000, math.ceil(ttl_s * 1000))))

    async def get(self, key: str) -> str | None:
        value = await self._bounded(self._redis.get(self._k(key)))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def exists_any(self, *keys: str) -> bool:
        return bool(await self._bounded(self._redis.exists(*(self._k(k) for k in keys))))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._bounded(self._redis.delete(*(self._k(k) for k in keys)))

    async def hit(self, key: str, *, window_s: int) -> tuple[int, float]:
        return await self._bounded(self._hit(self._k(key), window_s))

    async def _hit(self, full: str, window_s: int) -> tuple[int, float]:
        # One MULTI: create the window with its expiry only if absent, count, read the remaining time. Doing
        # INCR then EXPIRE separately could leave a counter without expiry if the process died in between.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(full, 0, ex=window_s, nx=True)
            pipe.incr(full)
            pipe.pttl(full)
            _, count, pttl = await pipe.execute()
        return int(count), max(int(pttl), 0) / 1000

    async def ping(self) -> None:
        await self._bounded(self._redis.ping())

    async def publish(self, channel: str, message: str) -> None:
        await self._bounded(self._redis.publish(self._k(channel), message))


class MemoryCache:
    backend = "memory"

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, deadline = item
        if deadline <= self._clock.monotonic():
            del self._data[key]
            return None
        return value

    def _sweep(self) -> None:
        # Bounded work per write keeps memory from growing with expired markers in a long dev session.
        now = self._clock.monotonic()
        for key in [k for k, (_, deadline) in list(self._data.items())[:64] if deadline <= now]:
            del self._data[key]

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        self._sweep()
        self._data[key] = (value, self._clock.monotonic() + max(ttl_s, 1.0))

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def exists_any(self, *keys: str) -> bool:
        return any(self._live(k) is not None for k in keys)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)

    async def hit(self, key: str, *, window_s: int) -> tuple[int, float]:
        now = self._clock.monotonic()
        current = self._live(key)
        if current is None:
            self._sweep()
            self._data[key] = ("1", now + window_s)
            return 1, float(window_s)
        count = int(current) + 1
        deadline = self._data[key][1]
        self._data[key] = (str(count), deadline)
        return count, deadline - now

    async def ping(self) -> None:
        return None

    async def publish(self, channel: str, message: str) -> None:
        return None
