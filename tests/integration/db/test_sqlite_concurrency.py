"""SQLite, the embedded default, under concurrent writers: they queue for the write lock instead of failing.

See ``petit.db.engine`` for why writers BEGIN IMMEDIATE: two deferred transactions that have both read and
then both write cannot both succeed, and SQLite fails the second one at once, whatever the busy timeout.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from petit.db.engine import create_engine, create_sessionmaker
from petit.db.models import User
from petit.settings import DatabaseSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

BUSY_TIMEOUT_S = 20.0
WRITERS = 12


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "petit.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    return path


@pytest.fixture
async def engine(database: Path) -> AsyncIterator[AsyncEngine]:
    path = database
    engine = create_engine(
        DatabaseSettings(url=f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_s=BUSY_TIMEOUT_S)
    )
    yield engine
    await engine.dispose()


async def _users(engine: AsyncEngine, count: int) -> list[uuid.UUID]:
    now = datetime.now(UTC)
    users = [
        User(email=f"{uuid.uuid4().hex}@example.com", password_hash="x", created_at=now, updated_at=now)
        for _ in range(count)
    ]
    async with create_sessionmaker(engine)() as session:
        session.add_all(users)
        await session.commit()
    return [user.id for user in users]


async def test_connections_use_wal_the_busy_timeout_and_foreign_keys(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one() == BUSY_TIMEOUT_S * 1000
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1


async def test_concurrent_sessions_that_read_then_write_all_succeed(engine: AsyncEngine) -> None:
    ids = await _users(engine, WRITERS)
    sessions = create_sessionmaker(engine)

    async def read_then_write(user_id: uuid.UUID) -> None:
        async with sessions() as session:
            user = await session.get(User, user_id)
            assert user is not None
            # Everyone has read before anyone writes, as far as the event loop is concerned.
            await asyncio.sleep(0)
            user.password_hash = f"changed-{user_id}"
            session.add(user)
            await session.commit()

    results = await asyncio.gather(*(read_then_write(i) for i in ids), return_exceptions=True)
    assert [r for r in results if r is not None] == []
    async with sessions() as session:
        hashes = (await session.execute(text("SELECT password_hash FROM users"))).scalars().all()
    assert sorted(hashes) == sorted(f"changed-{i}" for i in ids)


async def test_two_deferred_transactions_that_both_read_then_write_fail_at_once(engine: AsyncEngine) -> None:
    """What BEGIN IMMEDIATE prevents; read-only sessions keep the deferred BEGIN, so they show it."""
    first_id, second_id = await _users(engine, 2)
    deferred = create_sessionmaker(engine, write=False)
    async with deferred() as first, deferred() as second:
        assert await first.get(User, first_id) is not None
        assert await second.get(User, second_id) is not None
        await first.execute(text("UPDATE users SET password_hash = 'a' WHERE id = :id"), {"id": first_id.hex})
        await first.commit()
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            await second.execute(
                text("UPDATE users SET password_hash = 'b' WHERE id = :id"), {"id": second_id.hex}
            )
        # SQLite did not even wait: no busy timeout can help such a transaction.
        assert time.monotonic() - started < BUSY_TIMEOUT_S / 2


async def test_a_reader_does_not_wait_for_a_writer(engine: AsyncEngine) -> None:
    (user_id,) = await _users(engine, 1)
    async with create_sessionmaker(engine)() as writer:
        await writer.execute(text("UPDATE users SET password_hash = 'w' WHERE id = :id"), {"id": user_id.hex})
        started = time.monotonic()
        async with create_sessionmaker(engine, write=False)() as reader:
            user = await reader.get(User, user_id)
            assert user is not None
            assert user.password_hash == "x"
        assert time.monotonic() - started < BUSY_TIMEOUT_S / 2
        await writer.commit()
