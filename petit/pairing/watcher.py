"""The per-process pairing watcher, started with the runtime when ThingsBoard is configured."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from petit.db.models import PairingState
from petit.lib.reconnect import stop_task
from petit.pairing.services import PairingAdvancer, PairingWatcher
from petit.realtime.events import publish_device_added, publish_pairing_progress

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.db.models import Pairing
    from petit.lib.clock import Clock
    from petit.lib.secrets import SecretHasher
    from petit.lib.throttle import AttemptThrottle
    from petit.realtime.hub import Hub
    from petit.settings import Settings
    from petit.thingsboard.port import ThingsBoardPort


def pairing_advancer(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    thingsboard: ThingsBoardPort,
    hasher: SecretHasher,
    throttle: AttemptThrottle,
    hub: Hub,
    clock: Clock,
) -> PairingAdvancer:
    async def publish_progress(pairing: Pairing) -> None:
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
        sessionmaker=sessionmaker,
        thingsboard=thingsboard,
        hasher=hasher,
        throttle=throttle,
        clock=clock,
        on_progress=publish_progress,
    )


@asynccontextmanager
async def start_pairing_watcher(
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    thingsboard: ThingsBoardPort,
    hasher: SecretHasher,
    throttle: AttemptThrottle,
    hub: Hub,
    clock: Clock,
) -> AsyncIterator[PairingWatcher]:
    advancer = pairing_advancer(
        sessionmaker=sessionmaker,
        thingsboard=thingsboard,
        hasher=hasher,
        throttle=throttle,
        hub=hub,
        clock=clock,
    )
    watcher = PairingWatcher(advancer, interval_s=settings.ownership.pairing_watch_interval_s)
    task = asyncio.create_task(watcher.run(), name="petit-pairing-watcher")
    try:
        yield watcher
    finally:
        await stop_task(task)
