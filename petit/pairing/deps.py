from __future__ import annotations

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.devices.deps import device_lifecycle
from petit.pairing.claims import ClaimService, ReleaseService
from petit.pairing.services import PairingService
from petit.pairing.watcher import pairing_advancer
from petit.runtime import Runtime


async def provide_pairing_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> PairingService:
    advancer = pairing_advancer(
        sessionmaker=runtime.sessionmaker,
        thingsboard=runtime.platform,
        hasher=runtime.secret_hasher,
        throttle=runtime.throttle,
        hub=runtime.hub,
        clock=runtime.clock,
    )
    return PairingService(
        session=db_session,
        lifecycle=device_lifecycle(runtime, db_session),
        advancer=advancer,
        hasher=runtime.secret_hasher,
        throttle=runtime.throttle,
        cache=runtime.cache,
        clock=runtime.clock,
        ttl_s=runtime.settings.ownership.pairing_ttl_s,
    )


async def provide_claim_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> ClaimService:
    return ClaimService(
        session=db_session,
        thingsboard=runtime.platform,
        lifecycle=device_lifecycle(runtime, db_session),
        hasher=runtime.secret_hasher,
        throttle=runtime.throttle,
        cache=runtime.cache,
        clock=runtime.clock,
        code_ttl_s=runtime.settings.ownership.claim_code_ttl_s,
    )


async def provide_release_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> ReleaseService:
    return ReleaseService(lifecycle=device_lifecycle(runtime, db_session))
