from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.ownership import PROCESS_OWNERSHIP
from petit.devices.repositories import DeviceRepository
from petit.devices.services import DeviceService
from petit.settings import Settings
from petit.telemetry.services import TelemetryService


def owned_devices(db_session: AsyncSession) -> DeviceService:
    """The ownership rules every device-scoped route goes through."""
    return DeviceService(devices=DeviceRepository(db_session), ownership=PROCESS_OWNERSHIP)


async def provide_telemetry_service(
    state: State, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> TelemetryService:
    return TelemetryService(
        devices=owned_devices(db_session),
        thingsboard=state.thingsboard,
        clock=state.clock,
        settings=settings.telemetry,
    )
