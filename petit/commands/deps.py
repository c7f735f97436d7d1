from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.commands.services import CommandService, DeviceSettingsService
from petit.devices.deps import owned_devices
from petit.devices.roles import Capability
from petit.runtime import Runtime


async def provide_command_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> CommandService:
    return CommandService(
        devices=owned_devices(db_session, Capability.OPERATE),
        thingsboard=runtime.platform,
        settings=runtime.settings.commands,
    )


async def provide_device_settings_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> DeviceSettingsService:
    return DeviceSettingsService(
        devices=owned_devices(db_session, Capability.OPERATE),
        thingsboard=runtime.platform,
        settings=runtime.settings.commands,
    )
