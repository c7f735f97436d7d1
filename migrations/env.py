"""Alembic environment for petit: async engines, PostgreSQL and SQLite alike.

The URL comes from ``config.attributes["url"]`` when petit's code runs migrations (``petit db upgrade``,
tests), otherwise from petit's settings, so there is a single source for it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.db.models import metadata
from petit.db.types import render_alembic_type
from petit.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

config = context.config


def _url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    return Settings().db.url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else (url or "").split(":", 1)[0]
    context.configure(
        connection=connection,
        url=url if connection is None else None,
        target_metadata=metadata,
        compare_type=True,
        render_item=render_alembic_type,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=dialect.startswith("sqlite"),
        literal_binds=connection is None,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(_url()))
