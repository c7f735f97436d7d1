"""The Litestar application: REST, the HTTP device API, WebSocket and the emulator's control endpoints."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.config.response_cache import ResponseCacheConfig

from thingsboard_emulator.rest import routes

if TYPE_CHECKING:
    from thingsboard_emulator.runner import Emulator

log = logging.getLogger(__name__)

REST_MAX_BODY_BYTES = 16 * 1024 * 1024


def _ws_handlers(emu: Emulator) -> list[Any]:
    try:
        from thingsboard_emulator.ws import create_ws_handlers  # noqa: PLC0415 - lands in parallel; optional
    except ImportError:
        log.warning("thingsboard_emulator.ws is not available; WebSocket endpoints are disabled")
        return []
    behaviour = emu.core.behaviour
    return list(
        create_ws_handlers(
            emu.core,
            api_key_auth=behaviour.ws_auth_api_key,
            token_query_param=behaviour.ws_token_query_param,
        )
    )


def build_app(emu: Emulator) -> Litestar:
    return Litestar(
        route_handlers=[*routes.all_handlers(emu), *_ws_handlers(emu)],
        exception_handlers=routes.exception_handlers(),
        response_cache_config=ResponseCacheConfig(),
        openapi_config=None,
        debug=False,
        logging_config=None,
        # TB's server.http.max_payload_size for /api/**; the device API raises its own limit per route.
        request_max_body_size=REST_MAX_BODY_BYTES,
    )
