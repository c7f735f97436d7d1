from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.deps import owned_devices
from petit.devices.errors import DeviceRoleForbiddenError
from petit.devices.ownership import PROCESS_OWNERSHIP
from petit.devices.roles import Capability, allows
from petit.runtime import Runtime
from petit.telemetry.services import TelemetryService

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from petit.devices.ownership import OwnedDevice


class LazyOwnedDevices:
    """Ownership for the hot read route: the process's ownership cache first, and only when it does not know
    a read-only unit of work of its own (so a cached answer opens no database session at all)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get_owned_ref(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> OwnedDevice:
        cached = PROCESS_OWNERSHIP.get(owner_id, device_id)
        if cached is not None:
            if not allows(cached.role, Capability.READ):
                raise DeviceRoleForbiddenError
            return cached
        async with self._sessionmaker() as session:
            return await owned_devices(session, Capability.READ).get_owned_ref(owner_id, device_id)


def telemetry_reads(runtime: Runtime) -> TelemetryService:
    """The telemetry routes' service, built without dependency injection (see the controller)."""
    return TelemetryService(
        devices=LazyOwnedDevices(runtime.read_sessionmaker),
        thingsboard=runtime.platform,
        clock=runtime.clock,
        settings=runtime.settings.telemetry,
        known=runtime.hub.latest_known,
    )
