from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.deps import device_lifecycle, owned_devices
from petit.devices.repositories import DeviceRepository
from petit.runtime import Runtime
from petit.sharing.services import SharingService, TransferService


async def provide_sharing_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> SharingService:
    return SharingService(
        session=db_session,
        lookup=owned_devices(db_session),
        devices=DeviceRepository(db_session),
        clock=runtime.clock,
        settings=runtime.settings.sharing,
    )


async def provide_transfer_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> TransferService:
    return TransferService(
        session=db_session,
        lookup=owned_devices(db_session),
        devices=DeviceRepository(db_session),
        lifecycle=device_lifecycle(runtime, db_session),
        clock=runtime.clock,
        settings=runtime.settings.sharing,
    )
