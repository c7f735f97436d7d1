from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.idempotency import IdempotencyStore
from petit.devices.repositories import DeviceRepository
from petit.devices.services import DeviceService
from petit.errors import PlatformUnavailableError
from petit.users.linking import PlatformLinker


async def provide_device_service(state: State, db_session: NamedDependency[AsyncSession]) -> DeviceService:
    thingsboard = state.thingsboard
    if thingsboard is None:
        # ThingsBoard is not configured at all (a bare `petit dev`): device routes cannot work.
        raise PlatformUnavailableError("The device platform is not configured")
    return DeviceService(
        devices=DeviceRepository(db_session),
        thingsboard=thingsboard,
        linker=PlatformLinker(thingsboard, state.clock),
        idempotency=IdempotencyStore(db_session, state.clock),
        clock=state.clock,
    )
