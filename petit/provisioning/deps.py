from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.audit.services import DeviceEventService
from petit.devices.deps import device_lifecycle
from petit.devices.repositories import DeviceRepository
from petit.provisioning.repositories import ProvisionedDeviceRepository
from petit.provisioning.services import ProvisioningService
from petit.runtime import Runtime


async def provide_provisioning_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> ProvisioningService:
    return ProvisioningService(
        provisioned=ProvisionedDeviceRepository(db_session),
        devices=DeviceRepository(db_session),
        lifecycle=device_lifecycle(runtime, db_session),
        thingsboard=runtime.platform,
        events=DeviceEventService(session=db_session, clock=runtime.clock),
        # The same counters as pairing and claiming: a guesser cannot spread attempts across flows.
        throttle=runtime.throttle,
        hasher=runtime.secret_hasher,
        cache=runtime.cache,
        clock=runtime.clock,
        settings=runtime.settings.provisioning,
    )
