"""Startup: set the provisioning profile up before any device tries ThingsBoard's own ``/provision``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from petit.provisioning.services import ensure_provisioning_profile
from petit.thingsboard.errors import ThingsBoardError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from litestar import Litestar

    from petit.settings import Settings

log = logging.getLogger(__name__)


def provisioning_startup(settings: Settings) -> Callable[[Litestar], Awaitable[None]]:
    async def hook(app: Litestar) -> None:
        config = settings.provisioning
        thingsboard = app.state.thingsboard
        if not config.device_key or config.device_secret is None or thingsboard is None:
            return
        try:
            await ensure_provisioning_profile(
                thingsboard,
                app.state.cache,
                config.profile_name,
                config.device_key,
                config.device_secret.get_secret_value(),
            )
        except ThingsBoardError as exc:
            # Not fatal: petit's own ProvisionDevice sets the profile up on first use.
            log.warning("provisioning.profile_setup_deferred error=%s", type(exc).__name__)

    return hook
