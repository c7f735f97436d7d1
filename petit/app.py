"""The application factory. Nothing here connects at import time: the lifespan owns every connection."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.pydantic import PydanticPlugin
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT

import petit
from petit import apidocs
from petit.audit.controllers import DeviceEventController
from petit.auth.controllers import AuthCompatController, AuthController
from petit.commands.controllers import CommandController, DeviceSettingsController
from petit.db.deps import provide_db_session
from petit.devices.controllers import DeviceController
from petit.errors import UnsupportedMediaTypeError, exception_handlers
from petit.gateway.controllers import GatewayController
from petit.health.controllers import HealthController
from petit.lib.clock import Clock, SystemClock
from petit.lib.jsonguard import check_json, check_query
from petit.openapi_rules import finish_openapi
from petit.pairing.controllers import ClaimController, PairingController, ReleaseController
from petit.provisioning.controllers import provisioning_route_handlers
from petit.realtime.controllers import StreamController, stream_socket
from petit.runtime import Runtime, RuntimeSlot, attach_slot, open_runtime
from petit.settings import Settings
from petit.sharing.controllers import DeviceShareController, IncomingShareController, TransferController
from petit.streaming.controllers import StreamingController
from petit.telemetry.controllers import TelemetryController
from petit.users.controllers import UserController

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from redis.asyncio import Redis

    from petit.realtime.config import StreamLimits
    from petit.thingsboard.port import ThingsBoardPort


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def _check_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    """Every route's input rules, enforced once before any handler, validator or decoder sees the input."""
    if request.method == "OPTIONS":
        return _options(request)
    if request.query_params:
        check_query(request.query_params.dict())
    if request.method not in _BODY_METHODS:
        return None
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return None
    # Litestar parses whatever arrives as JSON; refusing other media types up front gives clients a clear 415
    # instead of a confusing parse error.
    media_type = request.content_type[0].lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(f"got {media_type or 'no content type'}")
    # The body is cached on the request, so the handler's decoder reads the same bytes again, now known safe.
    raw = await request.body()
    if raw:
        check_json(raw)
    return None


def _options(request: Request[Any, Any, Any]) -> Response[None] | None:
    # Litestar's automatic OPTIONS answer lists only the methods of the first controller that registered the
    # path (its handler is built before the others are merged in); the route itself knows them all.
    allow: dict[str, str] = request.app.state.get(_ALLOW_KEY, {})
    methods = allow.get(request.scope.get("path_template", ""))
    if methods is None:
        return None
    return Response(content=None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": methods})


_ALLOW_KEY = "petit_allow_by_path"


def openapi_config() -> OpenAPIConfig:
    # Nothing here may depend on settings: the exported contract must be the same on every machine.
    return OpenAPIConfig(
        title="petit",
        version=petit.__version__,
        description="petit: accounts, device ownership and telemetry for Wi-Fi IoT products.",
        path=apidocs.SCHEMA_PATH,
        render_plugins=apidocs.render_plugins(),
        components=Components(
            security_schemes={"BearerAuth": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
        ),
        use_handler_docstrings=False,
    )


def create_app(
    settings: Settings | None = None,
    *,
    thingsboard: ThingsBoardPort | None = None,
    redis: Redis[Any] | None = None,
    clock: Clock | None = None,
    stream_limits: StreamLimits | None = None,
) -> Litestar:
    """Build petit. Collaborators passed in are used as given and not closed; the lifespan owns the rest."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    slot = RuntimeSlot()

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        async with open_runtime(
            settings, thingsboard=thingsboard, redis=redis, clock=clock, stream_limits=stream_limits
        ) as runtime:
            slot.fill(runtime)
            # Everything built so far (modules, the framework, the runtime) lives as long as the process: keep
            # it out of the collector's full passes, which otherwise stop the loop for up to ~100 ms with a
            # thousand streams open (bench/bench_streaming.py prints the pauses).
            gc.freeze()
            # Streams churn objects that outlive a young pass by a second or so (a delivery's wake-up future);
            # freeing them counts against the young generation's allocations, so at the default threshold
            # (700) young passes come every few milliseconds over ever longer lists and took half of the CPU
            # with 5,000 streams. Cycles are still found, just in bigger batches.
            thresholds = gc.get_threshold()
            gc.set_threshold(settings.server.gc_young_threshold, *thresholds[1:])
            try:
                yield
            finally:
                gc.set_threshold(*thresholds)
                slot.fill(None)

    async def provide_runtime() -> Runtime:
        return slot.get()

    async def provide_settings() -> Settings:
        return settings

    state = State()
    attach_slot(state, slot)
    cors = (
        CORSConfig(allow_origins=settings.app.cors_allow_origins) if settings.app.cors_allow_origins else None
    )
    app = Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            AuthCompatController,
            UserController,
            DeviceController,
            TelemetryController,
            CommandController,
            DeviceSettingsController,
            GatewayController,
            *provisioning_route_handlers(settings),
            StreamingController,
            StreamController,
            stream_socket,
            PairingController,
            ClaimController,
            ReleaseController,
            DeviceEventController,
            DeviceShareController,
            IncomingShareController,
            TransferController,
            apidocs.assets_router(),
        ],
        dependencies={
            "runtime": Provide(provide_runtime),
            "settings": Provide(provide_settings),
            "db_session": Provide(provide_db_session),
        },
        lifespan=[lifespan],
        state=state,
        plugins=[PydanticPlugin(prefer_alias=True)],
        exception_handlers=exception_handlers(),
        before_request=_check_request,
        request_max_body_size=settings.app.request_max_body_bytes,
        openapi_config=openapi_config(),
        cors_config=cors,
        # errors.py logs what it maps to a 500; Litestar logging the same exception again would be noise.
        logging_config=LoggingConfig(
            root={"handlers": ["queue_listener"], "level": settings.log.level.upper()}, log_exceptions="never"
        ),
        debug=False,
    )
    app.state[_ALLOW_KEY] = {
        route.path_format: ", ".join(sorted(route.methods))
        for route in app.routes
        if isinstance(route, HTTPRoute)
    }
    finish_openapi(app.openapi_schema)
    return app
