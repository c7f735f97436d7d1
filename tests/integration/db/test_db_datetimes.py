"""Datetimes come back aware and in UTC from every database, and compare in SQL as instants."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlmodel import col

from petit.db.engine import create_engine, create_sessionmaker
from petit.db.models import User

if TYPE_CHECKING:
    from collections.abc import Callable

    from petit.settings import Settings

pytestmark = pytest.mark.integration

PARIS = timezone(timedelta(hours=2))


async def test_a_stored_datetime_reads_back_aware_utc_and_compares_in_sql(
    make_settings: Callable[..., Settings],
) -> None:
    engine = create_engine(make_settings().db)
    sessions = create_sessionmaker(engine)
    created = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=PARIS)
    user = User(
        email=f"{uuid.uuid4().hex}@example.com", password_hash="x", created_at=created, updated_at=created
    )
    try:
        async with sessions() as session:
            session.add(user)
            await session.commit()
        async with create_sessionmaker(engine, write=False)() as session:
            stored = await session.get(User, user.id)
            assert stored is not None
            assert stored.created_at == created
            assert stored.created_at.tzinfo is UTC
            # 12:30:15 UTC: a naive text comparison of the Paris digits would put it after 13:00 UTC.
            before = await session.execute(
                select(User.id).where(col(User.created_at) < datetime(2026, 6, 1, 13, 0, tzinfo=UTC))
            )
            assert before.scalars().all() == [user.id]
    finally:
        await engine.dispose()
