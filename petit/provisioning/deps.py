from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.audit.deps import secret_hasher, throttle_limits
from petit.audit.services import DeviceEventService
from petit.devices.repositories import DeviceRepository
from petit.errors import PlatformUnavailableError
from petit.lib.throttle import AttemptThrottle
from petit.provisioning.repositories import ProvisionedDeviceRepository
from petit.provisioning.services import ProvisioningService
from petit.settings import Settings


async def provide_provisioning_service(
    state: State, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> ProvisioningService:
    if state.thingsboard is None:
        raise PlatformUnavailableError("The device platform is not configured")
    return ProvisioningService(
        provisioned=ProvisionedDeviceRepository(db_session),
        devices=DeviceRepository(db_session),
        thingsboard=state.thingsboard,
        events=DeviceEventService(sessionmaker=state.sessionmaker, clock=state.clock),
        # The same counters as pairing and claiming: a guesser cannot spread attempts across flows.
        throttle=AttemptThrottle(state.cache, state.clock, throttle_limits(settings.ownership)),
        hasher=secret_hasher(settings),
        cache=state.cache,
        clock=state.clock,
        settings=settings.provisioning,
    )
