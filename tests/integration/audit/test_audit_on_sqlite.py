"""On SQLite (``petit dev``), an event recorded while the request's own transaction holds the file's
write lock must not fail the request: it is written once that lock is gone."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from petit.audit.services import DeviceEventService
from petit.db.base import metadata
from petit.db.models import DeviceEvent
from petit.lib.clock import SystemClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # A short busy timeout keeps the locked case quick; the default (5 s) behaves the same, only slower.
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path}/audit.sqlite3", connect_args={"timeout": 0.2}
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(DeviceEvent))).scalar_one())


async def _request_write(sessions: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A request that has written and not yet committed: it holds SQLite's write lock."""
    session = sessions()
    session.add(
        DeviceEvent(occurred_at=SystemClock().now(), flow="pairing", action="start", outcome="succeeded")
    )
    await session.flush()
    return session


async def test_an_immediate_write_under_the_requests_lock_fails(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    request = await _request_write(sessions)
    service = DeviceEventService(sessionmaker=sessions, clock=SystemClock())
    with pytest.raises(OperationalError, match="locked"):
        await service.record(flow="pairing", action="start", outcome="succeeded")
    await request.rollback()
    await request.close()


async def test_a_deferred_write_lands_after_the_request_commits(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    pending: set[asyncio.Task[None]] = set()
    service = DeviceEventService(sessionmaker=sessions, clock=SystemClock(), deferred=pending)
    request = await _request_write(sessions)
    recorded = await service.record(flow="pairing", action="start", outcome="succeeded", details={"n": 1})
    assert recorded.flow == "pairing"
    await request.commit()
    await request.close()
    await asyncio.wait_for(asyncio.gather(*pending), 10)
    assert await _count(sessions) == 2
