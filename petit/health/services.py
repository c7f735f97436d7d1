"""Readiness probes: each dependency is checked on its own, with its own timeout, concurrently."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from sqlalchemy import text

from petit.health.schemas import DependencyCheck, Readiness

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine

    from petit.lib.cache import Cache
    from petit.thingsboard.port import ThingsBoardPort


async def _probe(
    check: Callable[[], Awaitable[None]], timeout_s: float, ok_detail: str | None
) -> DependencyCheck:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except TimeoutError:
        return DependencyCheck(status="unavailable", detail=f"no answer within {timeout_s:g}s")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type name is the useful part
        return DependencyCheck(status="unavailable", detail=type(exc).__name__)
    return DependencyCheck(
        status="ok", detail=ok_detail, latency_ms=round((time.perf_counter() - started) * 1000, 2)
    )


class HealthService:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        cache: Cache,
        thingsboard: ThingsBoardPort | None,
        db_timeout_s: float,
        cache_timeout_s: float,
        thingsboard_timeout_s: float,
    ) -> None:
        self._engine = engine
        self._cache = cache
        self._thingsboard = thingsboard
        self._db_timeout_s = db_timeout_s
        self._cache_timeout_s = cache_timeout_s
        self._thingsboard_timeout_s = thingsboard_timeout_s

    async def _ping_database(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def readiness(self) -> Readiness:
        cache_detail = None if self._cache.backend == "redis" else "in-process cache (Redis not configured)"
        probes = [
            _probe(self._ping_database, self._db_timeout_s, self._engine.dialect.name),
            _probe(self._cache.ping, self._cache_timeout_s, cache_detail),
        ]
        database, redis = await asyncio.gather(*probes)
        if self._thingsboard is None:
            thingsboard = DependencyCheck(status="unavailable", detail="not configured")
        else:
            thingsboard = await _probe(self._thingsboard.check_health, self._thingsboard_timeout_s, None)
        checks = {"database": database, "redis": redis, "thingsboard": thingsboard}
        overall = "ok" if all(c.status == "ok" for c in checks.values()) else "unavailable"
        return Readiness(status=overall, checks=checks)
