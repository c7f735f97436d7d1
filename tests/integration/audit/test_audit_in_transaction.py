"""A device event commits with the change it records, on SQLite (``petit dev``) as on PostgreSQL: no second
pool, no deferred write. A refusal recorded with ``keep=True`` stands although the request then fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
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


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/audit.sqlite3"
    else:
        url = request.getfixturevalue("make_database")("petit_audit")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(DeviceEvent))).scalar_one())


async def test_an_event_commits_and_rolls_back_with_its_change(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        events = DeviceEventService(session=session, clock=SystemClock())
        await events.record(flow="pairing", action="start", outcome="succeeded", details={"token": "secret"})
        await session.rollback()
    assert await _count(sessions) == 0
    async with sessions() as session:
        events = DeviceEventService(session=session, clock=SystemClock())
        recorded = await events.record(flow="pairing", action="start", outcome="succeeded", details={"n": 1})
        await session.commit()
    assert await _count(sessions) == 1
    async with sessions() as session:
        stored = await session.get(DeviceEvent, recorded.id)
        assert stored is not None
        assert stored.details == {"n": 1}


async def test_a_kept_refusal_stands_when_the_request_fails(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        events = DeviceEventService(session=session, clock=SystemClock())
        await events.record(flow="claim", action="claim", outcome="failed", reason="wrong_code", keep=True)
        # What the request does after the refusal is rolled back; the refusal is not.
        await events.record(flow="claim", action="claim", outcome="succeeded")
        await session.rollback()
    async with sessions() as session:
        rows = (await session.execute(select(DeviceEvent))).scalars().all()
    assert [(r.outcome, r.reason) for r in rows] == [("failed", "wrong_code")]
