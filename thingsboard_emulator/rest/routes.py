"""Every REST route handler of the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from thingsboard_emulator.rest import (
    api_keys,
    auth,
    control,
    customers,
    device_http,
    devices,
    profiles,
    rpc,
    telemetry,
    tenants,
    users,
)
from thingsboard_emulator.rest.common import exception_handlers

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.runner import Emulator

__all__ = ["all_handlers", "exception_handlers"]


def all_handlers(emu: Emulator) -> list[HTTPRouteHandler]:
    core = emu.core
    return [
        *auth.handlers(core),
        *api_keys.handlers(core),
        *tenants.handlers(core),
        *customers.handlers(core),
        *users.handlers(core),
        *devices.handlers(core),
        *profiles.handlers(core),
        *telemetry.handlers(core),
        *rpc.handlers(core),
        *device_http.handlers(core),
        *control.handlers(emu),
    ]
