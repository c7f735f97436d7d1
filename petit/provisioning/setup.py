"""Startup: set the provisioning profile up before any device tries ThingsBoard's own ``/provision``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from petit.provisioning.services import ensure_provisioning_profile
from petit.thingsboard.errors import ThingsBoardError

if TYPE_CHECKING:
    from petit.lib.cache import Cache
    from petit.settings import Settings
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)


async def prepare_provisioning_profile(
    settings: Settings, thingsboard: ThingsBoardPort, cache: Cache
) -> None:
    config = settings.provisioning
    if not config.device_key or config.device_secret is None:
        return
    try:
        await ensure_provisioning_profile(
            thingsboard,
            cache,
            config.profile_name,
            config.device_key,
            config.device_secret.get_secret_value(),
        )
    except ThingsBoardError as exc:
        # Not fatal: petit's own ProvisionDevice sets the profile up on first use.
        log.warning("provisioning.profile_setup_deferred error=%s", type(exc).__name__)
