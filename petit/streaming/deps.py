from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.repositories import DeviceRepository
from petit.streaming.services import StreamService
from petit.users.repositories import UserRepository


async def provide_stream_service(state: State, db_session: NamedDependency[AsyncSession]) -> StreamService:
    return StreamService(
        users=UserRepository(db_session),
        devices=DeviceRepository(db_session),
        thingsboard=state.thingsboard,
    )
