"""Engine and session factory, built from settings by the app's lifespan (never at import time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from petit.settings import DatabaseSettings


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    if is_sqlite(settings.url):
        engine = create_async_engine(settings.url, echo=settings.echo)
        _enable_sqlite_foreign_keys(engine.sync_engine)
        return engine
    return create_async_engine(
        settings.url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
    )


def _enable_sqlite_foreign_keys(engine: Engine) -> None:
    # SQLite ignores ON DELETE CASCADE unless every connection opts in.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the request's commit, without lazy reloads.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
