from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.deps import owned_devices
from petit.devices.ownership import PROCESS_OWNERSHIP
from petit.runtime import Runtime
from petit.telemetry.services import TelemetryService

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from petit.devices.ownership import OwnedDevice


async def provide_telemetry_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> TelemetryService:
    return TelemetryService(
        devices=owned_devices(db_session),
        thingsboard=runtime.platform,
        clock=runtime.clock,
        settings=runtime.settings.telemetry,
    )


class LazyOwnedDevices:
    """Ownership for the hot read route: the process's ownership cache first, and only when it does not know
    a read-only unit of work of its own (so a cached answer opens no database session at all)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get_owned_ref(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> OwnedDevice:
        cached = PROCESS_OWNERSHIP.get(owner_id, device_id)
        if cached is not None:
            return cached
        async with self._sessionmaker() as session:
            return await owned_devices(session).get_owned_ref(owner_id, device_id)


def latest_telemetry_service(runtime: Runtime) -> TelemetryService:
    """GetLatestTelemetry's service, built without dependency injection (see the route)."""
    return TelemetryService(
        devices=LazyOwnedDevices(runtime.read_sessionmaker),
        thingsboard=runtime.platform,
        clock=runtime.clock,
        settings=runtime.settings.telemetry,
        known=runtime.hub.latest_known,
    )
