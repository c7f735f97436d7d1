from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.deps import owned_devices
from petit.devices.roles import Capability
from petit.runtime import Runtime
from petit.telemetry.services import TelemetryService


async def provide_telemetry_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> TelemetryService:
    return TelemetryService(
        devices=owned_devices(db_session, Capability.READ),
        thingsboard=runtime.platform,
        clock=runtime.clock,
        settings=runtime.settings.telemetry,
    )
