"""The request's unit of work: one session, committed when the handler succeeds."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from petit.db.engine import create_sessionmaker
from petit.errors import PetitError

#: Methods whose handlers may write; every other request (and a websocket) gets a read-only session, which
#: on SQLite does not queue for the write lock (see ``petit.db.engine``).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _read_sessionmaker(state: State) -> async_sessionmaker[AsyncSession]:
    # Derived from the lifespan's engine on first use and kept next to it; a new lifespan (a new engine)
    # replaces it rather than reusing one bound to a disposed engine.
    engine: AsyncEngine = state.engine
    cached: tuple[AsyncEngine, async_sessionmaker[AsyncSession]] | None = state.get("read_sessionmaker")
    if cached is None or cached[0] is not engine:
        cached = (engine, create_sessionmaker(engine, write=False))
        state.read_sessionmaker = cached
    return cached[1]


def request_sessionmaker(state: State, method: str | None) -> async_sessionmaker[AsyncSession]:
    """The write flavour (``state.sessionmaker``) for POST/PUT/PATCH/DELETE, the read flavour otherwise
    (``method`` None: a websocket)."""
    if method in WRITE_METHODS:
        sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
        return sessionmaker
    return _read_sessionmaker(state)


async def provide_db_session(state: State, scope: Scope) -> AsyncGenerator[AsyncSession, None]:
    # A websocket's scope has no method.
    method = scope.get("method")
    async with request_sessionmaker(state, method if isinstance(method, str) else None)() as session:
        try:
            yield session
        except PetitError as exc:
            if exc.keeps_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
