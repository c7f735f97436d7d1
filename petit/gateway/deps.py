from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.audit.deps import secret_hasher, throttle_limits
from petit.audit.services import DeviceEventService
from petit.devices.repositories import DeviceRepository
from petit.errors import PlatformUnavailableError
from petit.gateway.repositories import GatewayApiKeyRepository, ProvisioningTokenRepository
from petit.gateway.services import GatewayService
from petit.lib.throttle import AttemptThrottle
from petit.settings import Settings


async def provide_gateway_service(
    state: State, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> GatewayService:
    if state.thingsboard is None:
        raise PlatformUnavailableError("The device platform is not configured")
    return GatewayService(
        tokens=ProvisioningTokenRepository(db_session),
        api_keys=GatewayApiKeyRepository(db_session),
        devices=DeviceRepository(db_session),
        thingsboard=state.thingsboard,
        events=DeviceEventService(sessionmaker=state.sessionmaker, clock=state.clock),
        throttle=AttemptThrottle(state.cache, state.clock, throttle_limits(settings.ownership)),
        hasher=secret_hasher(settings),
        clock=state.clock,
        settings=settings.provisioning,
    )
