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


#: Readiness answers within this, whatever the dependencies do: a load balancer's probe must not hang.
ANSWER_WITHIN_S = 0.8
#: A probe result this recent is reported as is, so a burst of readiness checks costs one probe each.
FRESH_FOR_S = 1.0


class HealthService:
    """Readiness from recent probes: each dependency is probed at most once per ``fresh_for_s``, in the
    background, and a probe still running after ``answer_within_s`` counts as "unavailable" (too slow to
    serve) while it goes on to finish with its own, longer timeout."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        cache: Cache,
        thingsboard: ThingsBoardPort | None,
        db_timeout_s: float,
        cache_timeout_s: float,
        thingsboard_timeout_s: float,
        answer_within_s: float = ANSWER_WITHIN_S,
        fresh_for_s: float = FRESH_FOR_S,
    ) -> None:
        self._engine = engine
        self._cache = cache
        self._thingsboard = thingsboard
        self._db_timeout_s = db_timeout_s
        self._cache_timeout_s = cache_timeout_s
        self._thingsboard_timeout_s = thingsboard_timeout_s
        self._answer_within_s = answer_within_s
        self._fresh_for_s = fresh_for_s
        self._last: dict[str, tuple[float, DependencyCheck]] = {}
        self._running: dict[str, asyncio.Task[DependencyCheck]] = {}

    async def _ping_database(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def _probes(self) -> dict[str, tuple[Callable[[], Awaitable[None]], float, str | None]]:
        cache_detail = None if self._cache.backend == "redis" else "in-process cache (Redis not configured)"
        probes: dict[str, tuple[Callable[[], Awaitable[None]], float, str | None]] = {
            "database": (self._ping_database, self._db_timeout_s, self._engine.dialect.name),
            "redis": (self._cache.ping, self._cache_timeout_s, cache_detail),
        }
        if self._thingsboard is not None:
            probes["thingsboard"] = (self._thingsboard.check_health, self._thingsboard_timeout_s, None)
        return probes

    def _start(
        self, name: str, check: Callable[[], Awaitable[None]], timeout_s: float, detail: str | None
    ) -> None:
        task = asyncio.create_task(_probe(check, timeout_s, detail), name=f"petit-ready-{name}")
        self._running[name] = task

        def record(done: asyncio.Task[DependencyCheck]) -> None:
            self._running.pop(name, None)
            if not done.cancelled():
                self._last[name] = (asyncio.get_running_loop().time(), done.result())

        task.add_done_callback(record)

    async def readiness(self) -> Readiness:
        now = asyncio.get_running_loop().time()
        probes = self._probes()
        waiting: dict[str, asyncio.Task[DependencyCheck]] = {}
        for name, (check, timeout_s, detail) in probes.items():
            last = self._last.get(name)
            if last is not None and now - last[0] < self._fresh_for_s:
                continue
            if name not in self._running:
                self._start(name, check, timeout_s, detail)
            waiting[name] = self._running[name]
        if waiting:
            await asyncio.wait(waiting.values(), timeout=self._answer_within_s)
        checks: dict[str, DependencyCheck] = {}
        for name in ("database", "redis", "thingsboard"):
            task = waiting.get(name)
            if name not in probes:
                checks[name] = DependencyCheck(status="unavailable", detail="not configured")
            elif task is not None and not task.done():
                checks[name] = DependencyCheck(
                    status="unavailable", detail=f"no answer within {self._answer_within_s:g}s"
                )
            elif task is not None:
                checks[name] = task.result()
            else:
                checks[name] = self._last[name][1]
        overall = "ok" if all(c.status == "ok" for c in checks.values()) else "unavailable"
        return Readiness(status=overall, checks=checks)

    async def aclose(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
