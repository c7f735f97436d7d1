from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.audit.services import DeviceEventService
from petit.devices.deps import device_lifecycle
from petit.devices.repositories import DeviceRepository
from petit.gateway.repositories import GatewayApiKeyRepository, ProvisioningTokenRepository
from petit.gateway.services import GatewayService
from petit.runtime import Runtime


async def provide_gateway_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> GatewayService:
    return GatewayService(
        tokens=ProvisioningTokenRepository(db_session),
        api_keys=GatewayApiKeyRepository(db_session),
        devices=DeviceRepository(db_session),
        lifecycle=device_lifecycle(runtime, db_session),
        thingsboard=runtime.platform,
        events=DeviceEventService(session=db_session, clock=runtime.clock),
        throttle=runtime.throttle,
        hasher=runtime.secret_hasher,
        clock=runtime.clock,
        settings=runtime.settings.provisioning,
    )
