"""Engine and session factory, built from settings by the app's lifespan (never at import time).

SQLite (``petit dev``, the embedded default) needs three things PostgreSQL does not:

* **WAL journal**: readers never block the writer nor the writer the readers; only writers take turns.
* **A busy timeout** (``PETIT_DB__SQLITE_BUSY_TIMEOUT_S``): a writer that finds the write lock taken waits
  for it instead of failing at once with "database is locked".
* **Writers lock at BEGIN** (``BEGIN IMMEDIATE``). A plain (deferred) ``BEGIN`` takes the write lock only at
  the first write. When two such transactions have both read and then both write, the second can never
  succeed: its snapshot is older than the first one's commit, so SQLite answers ``SQLITE_BUSY`` straight
  away, without waiting out the busy timeout. Taking the lock at BEGIN makes writers queue instead (each
  waiting at most the busy timeout). pysqlite/aiosqlite would emit their own deferred BEGIN lazily before
  the first write, so petit switches that off and emits BEGIN itself.

Sessions that only read must not take the write lock (they would queue behind every writer for nothing):
``create_sessionmaker(engine, write=False)`` makes those, with a plain deferred ``BEGIN``. A read-only
session that writes anyway still works, just without that queueing guarantee.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from petit.settings import DatabaseSettings

#: Execution option marking connections whose transactions only read (see the module docstring).
READ_ONLY_OPTION = "petit_read_only"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    if is_sqlite(settings.url):
        engine = create_async_engine(settings.url, echo=settings.echo)
        _configure_sqlite(engine.sync_engine, busy_timeout_ms=round(settings.sqlite_busy_timeout_s * 1000))
        return engine
    return create_async_engine(
        settings.url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # None: the driver never BEGINs on its own; _on_begin below does, the way the session needs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The timeout first: switching to WAL needs a lock another connection may briefly hold.
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # SQLite ignores ON DELETE CASCADE unless every connection opts in.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql("BEGIN" if options.get(READ_ONLY_OPTION) else "BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine, *, write: bool = True) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; ``write=False`` for units of work that only read.

    Writing is the default because a session that writes without saying so could fail on SQLite (see the
    module docstring), while a reader that says it writes is merely serialised with the writers.
    PostgreSQL ignores the flag.
    """
    bind = engine if write else engine.execution_options(**{READ_ONLY_OPTION: True})
    # expire_on_commit=False: objects stay readable after the request's commit, without lazy reloads.
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
