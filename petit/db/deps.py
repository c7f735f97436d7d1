"""The request's unit of work: one session, committed when the handler succeeds."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from petit.errors import PetitError
from petit.runtime import Runtime

#: Methods whose handlers may write; every other request (and a websocket) gets a read-only session, which
#: on SQLite does not queue for the write lock (see ``petit.db.engine``).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: ``opt`` key of a route that writes although its method says it reads (seed 001's GET provisioning).
WRITES_OPT = "db_writes"


def writes(scope: Scope) -> bool:
    if scope.get("method") in WRITE_METHODS:
        return True
    handler = scope.get("route_handler")
    return bool(handler is not None and handler.opt.get(WRITES_OPT))


async def provide_db_session(
    runtime: NamedDependency[SkipValidation[Runtime]], scope: Scope
) -> AsyncGenerator[AsyncSession, None]:
    sessionmaker = runtime.sessionmaker if writes(scope) else runtime.read_sessionmaker
    async with sessionmaker() as session:
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
