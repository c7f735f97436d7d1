from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.commands.services import CommandService, DeviceSettingsService
from petit.settings import Settings
from petit.telemetry.deps import owned_devices


async def provide_command_service(
    state: State, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> CommandService:
    return CommandService(
        devices=owned_devices(db_session), thingsboard=state.thingsboard, settings=settings.commands
    )


async def provide_device_settings_service(
    state: State, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> DeviceSettingsService:
    return DeviceSettingsService(
        devices=owned_devices(db_session), thingsboard=state.thingsboard, settings=settings.commands
    )
