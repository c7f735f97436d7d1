"""Migrations go up, down and up again on PostgreSQL and SQLite, and match the models exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.db.migrate import downgrade, upgrade
from petit.db.models import metadata

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

TABLES = {"users", "refresh_tokens"}


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_database_url(request: pytest.FixtureRequest, make_database: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrations.sqlite3'}"
    return str(make_database("petit_migrations"))


async def _inspect(url: str) -> tuple[set[str], list[Any]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    return tables, diff


def test_upgrade_downgrade_upgrade_and_no_drift(fresh_database_url: str, run_sync: Any) -> None:
    upgrade(fresh_database_url)
    tables, diff = run_sync(lambda: _inspect(fresh_database_url))
    assert tables >= TABLES
    assert diff == []

    downgrade(fresh_database_url, "base")
    tables, _ = run_sync(lambda: _inspect(fresh_database_url))
    assert tables & TABLES == set()

    upgrade(fresh_database_url)
    tables, diff = run_sync(lambda: _inspect(fresh_database_url))
    assert tables >= TABLES
    assert diff == [], f"models and migrations differ: {diff}"
