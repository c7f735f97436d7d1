from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.lifecycle import DeviceLifecycle
from petit.devices.ownership import PROCESS_OWNERSHIP
from petit.devices.repositories import DeviceRepository
from petit.devices.roles import Capability
from petit.devices.services import DeviceLookup, DeviceService
from petit.runtime import Runtime


def device_lifecycle(runtime: Runtime, db_session: AsyncSession) -> DeviceLifecycle:
    """The one owner of device creation, re-keying, release and deletion, on the request's unit of work."""
    return DeviceLifecycle(session=db_session, thingsboard=runtime.platform, clock=runtime.clock)


def owned_devices(db_session: AsyncSession, capability: Capability = Capability.MANAGE) -> DeviceLookup:
    """The access rules every device-scoped route goes through, for routes that need ``capability``."""
    return DeviceLookup(
        devices=DeviceRepository(db_session), ownership=PROCESS_OWNERSHIP, capability=capability
    )


async def provide_device_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> DeviceService:
    return DeviceService(
        devices=DeviceRepository(db_session),
        lifecycle=device_lifecycle(runtime, db_session),
        clock=runtime.clock,
    )
