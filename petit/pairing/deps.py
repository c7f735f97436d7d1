from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import TYPE_CHECKING

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from petit.audit.deps import audit_pool, device_events, secret_hasher, throttle_limits
from petit.db.models import PairingState
from petit.errors import PlatformUnavailableError
from petit.lib.throttle import AttemptThrottle
from petit.pairing.claims import ClaimService, ReleaseService
from petit.pairing.services import PairingAdvancer, PairingService, PairingWatcher
from petit.realtime.events import publish_device_added, publish_pairing_progress
from petit.settings import Settings
from petit.thingsboard.port import ThingsBoardPort
from petit.users.linking import PlatformLinker

if TYPE_CHECKING:
    from litestar import Litestar

    from petit.db.models import Pairing
    from petit.realtime.hub import Hub


def _thingsboard(state: State) -> ThingsBoardPort:
    thingsboard: ThingsBoardPort | None = state.thingsboard
    if thingsboard is None:
        raise PlatformUnavailableError("The device platform is not configured")
    return thingsboard


def build_advancer(state: State, settings: Settings) -> PairingAdvancer:
    hub: Hub | None = state.get("realtime")

    async def publish_progress(pairing: Pairing) -> None:
        if hub is None:
            return
        stage = PairingState(pairing.state)
        if stage is PairingState.COMPLETED:
            # Announced before "completed" so streams start serving the new device under its petit id.
            await publish_device_added(hub, pairing.user_id, pairing.platform_device_id)
        await publish_pairing_progress(
            hub,
            pairing.user_id,
            pairing_id=str(pairing.id),
            stage=stage.value,
            # Like GetPairing: the petit device id, and only once the device exists.
            device_id=pairing.device_id if stage is PairingState.COMPLETED else None,
            reason=pairing.failure_reason,
        )

    return PairingAdvancer(
        sessionmaker=state.sessionmaker,
        thingsboard=_thingsboard(state),
        hasher=secret_hasher(settings),
        throttle=AttemptThrottle(state.cache, state.clock, throttle_limits(settings.ownership)),
        events=device_events(state),
        clock=state.clock,
        on_progress=publish_progress,
    )


async def provide_pairing_service(
    state: State, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> PairingService:
    advancer = build_advancer(state, settings)
    thingsboard = _thingsboard(state)
    return PairingService(
        session=db_session,
        thingsboard=thingsboard,
        linker=PlatformLinker(thingsboard, state.clock),
        advancer=advancer,
        hasher=secret_hasher(settings),
        throttle=AttemptThrottle(state.cache, state.clock, throttle_limits(settings.ownership)),
        events=device_events(state),
        cache=state.cache,
        clock=state.clock,
        ttl_s=settings.ownership.pairing_ttl_s,
    )


async def provide_claim_service(
    state: State, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> ClaimService:
    thingsboard = _thingsboard(state)
    return ClaimService(
        session=db_session,
        thingsboard=thingsboard,
        linker=PlatformLinker(thingsboard, state.clock),
        hasher=secret_hasher(settings),
        throttle=AttemptThrottle(state.cache, state.clock, throttle_limits(settings.ownership)),
        events=device_events(state),
        cache=state.cache,
        clock=state.clock,
        code_ttl_s=settings.ownership.claim_code_ttl_s,
    )


async def provide_release_service(state: State, db_session: NamedDependency[AsyncSession]) -> ReleaseService:
    return ReleaseService(
        session=db_session,
        thingsboard=_thingsboard(state),
        events=device_events(state),
        clock=state.clock,
    )


def pairing_watcher_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The audit pool, and the per-process watcher that notices paired devices; runs after the main lifespan
    set up the state."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with audit_pool(app.state, settings):
            if app.state.get("thingsboard") is None:
                yield
                return
            async with _watching(app, settings):
                yield

    return lifespan


@asynccontextmanager
async def _watching(app: Litestar, settings: Settings) -> AsyncIterator[None]:
    watcher = PairingWatcher(
        build_advancer(app.state, settings), interval_s=settings.ownership.pairing_watch_interval_s
    )
    app.state.pairing_watcher = watcher
    task = asyncio.create_task(watcher.run(), name="petit-pairing-watcher")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
