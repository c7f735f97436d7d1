"""The request's unit of work: one session, committed when the handler succeeds."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.errors import PetitError
from petit.runtime import Runtime


async def provide_db_session(runtime: NamedDependency[Runtime]) -> AsyncGenerator[AsyncSession, None]:
    async with runtime.sessionmaker() as session:
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
