from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.repositories import DeviceRepository
from petit.runtime import Runtime
from petit.streaming.services import StreamService
from petit.users.repositories import UserRepository


async def provide_stream_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> StreamService:
    return StreamService(
        users=UserRepository(db_session),
        devices=DeviceRepository(db_session),
        thingsboard=runtime.platform,
    )
