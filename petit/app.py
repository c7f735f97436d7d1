"""The application factory. Nothing here connects at import time: the lifespan owns every connection."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.pydantic import PydanticPlugin
from redis.asyncio import Redis

import petit
from petit.audit.controllers import DeviceEventController
from petit.auth.controllers import AuthController
from petit.auth.services import AccessTokenVerifier
from petit.commands.controllers import CommandController, DeviceSettingsController
from petit.db.deps import provide_db_session
from petit.db.engine import create_engine, create_sessionmaker
from petit.devices.controllers import DeviceController
from petit.errors import UnsupportedMediaTypeError, exception_handlers
from petit.gateway.controllers import GatewayController
from petit.health.controllers import HealthController
from petit.health.services import HealthService
from petit.lib.cache import Cache, MemoryCache, RedisCache
from petit.lib.clock import Clock, SystemClock
from petit.lib.security import AccessTokenCodec, PasswordHasher
from petit.pairing.controllers import ClaimController, PairingController, ReleaseController
from petit.pairing.deps import pairing_watcher_lifespan
from petit.provisioning.controllers import provisioning_route_handlers
from petit.provisioning.setup import provisioning_startup
from petit.realtime.controllers import StreamController, stream_socket
from petit.realtime.setup import realtime_lifespan
from petit.settings import Settings
from petit.streaming.controllers import StreamingController
from petit.telemetry.controllers import TelemetryController
from petit.thingsboard.client import ThingsBoardClient
from petit.users.controllers import UserController
from petit.users.linking import PlatformLinker, PlatformLinkTask

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from petit.thingsboard.port import ThingsBoardPort


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def _require_json_body(request: Request[Any, Any, Any]) -> None:
    # Litestar parses whatever arrives as JSON; refusing other media types up front gives clients a clear 415
    # instead of a confusing parse error.
    if request.method not in _BODY_METHODS:
        return
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return
    media_type = request.content_type[0].lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(f"got {media_type or 'no content type'}")


def openapi_config() -> OpenAPIConfig:
    # Nothing here may depend on settings: the exported contract must be the same on every machine.
    return OpenAPIConfig(
        title="petit",
        version=petit.__version__,
        description="petit: accounts, device ownership and telemetry for Wi-Fi IoT products.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin()],
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
) -> Litestar:
    """Build petit. Collaborators passed in are used as given and not closed; the lifespan owns the rest."""
    settings = settings or Settings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = create_engine(settings.db)
        owned_redis = None
        if redis is not None:
            cache: Cache = RedisCache(redis, prefix=settings.redis.key_prefix)
        elif settings.redis.url:
            owned_redis = Redis.from_url(settings.redis.url)
            cache = RedisCache(owned_redis, prefix=settings.redis.key_prefix)
        else:
            cache = MemoryCache(clock)
        owned_thingsboard = None
        if thingsboard is None and settings.thingsboard.url:
            # Tokens live in the same Redis as everything else so every worker shares one ThingsBoard login.
            owned_thingsboard = ThingsBoardClient(
                settings.thingsboard.client_config(settings.redis.key_prefix),
                redis=redis if redis is not None else owned_redis,
            )
        state = app.state
        state.engine = engine
        state.sessionmaker = create_sessionmaker(engine)
        state.cache = cache
        state.token_verifier = AccessTokenVerifier(codec=state.token_codec, cache=cache, clock=clock)
        state.thingsboard = thingsboard or owned_thingsboard
        state.health_service = HealthService(
            engine=engine,
            cache=cache,
            thingsboard=state.thingsboard,
            db_timeout_s=settings.db.health_timeout_s,
            cache_timeout_s=settings.redis.health_timeout_s,
            thingsboard_timeout_s=settings.thingsboard.request_timeout_s,
        )
        # Users who signed up while ThingsBoard was down get linked in the background.
        link_task = (
            PlatformLinkTask(state.sessionmaker, PlatformLinker(state.thingsboard, clock))
            if state.thingsboard is not None
            else None
        )
        if link_task is not None:
            link_task.start()
        try:
            yield
        finally:
            if link_task is not None:
                await link_task.stop()
            if owned_thingsboard is not None:
                await owned_thingsboard.aclose()
            if owned_redis is not None:
                await owned_redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
            await engine.dispose()

    state = State(
        {
            "clock": clock,
            "password_hasher": PasswordHasher(
                time_cost=settings.auth.argon2_time_cost,
                memory_cost_kib=settings.auth.argon2_memory_cost_kib,
                parallelism=settings.auth.argon2_parallelism,
            ),
            "token_codec": AccessTokenCodec(
                secret=settings.auth.jwt_secret.get_secret_value(),
                issuer=settings.auth.jwt_issuer,
                ttl=timedelta(seconds=settings.auth.access_token_ttl_s),
            ),
        }
    )

    async def provide_settings() -> Settings:
        return settings

    cors = (
        CORSConfig(allow_origins=settings.app.cors_allow_origins) if settings.app.cors_allow_origins else None
    )
    return Litestar(
        route_handlers=[
            HealthController,
            AuthController,
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
        ],
        dependencies={
            "settings": Provide(provide_settings),
            "db_session": Provide(provide_db_session),
        },
        lifespan=[lifespan, realtime_lifespan(settings, redis), pairing_watcher_lifespan(settings)],
        on_startup=[provisioning_startup(settings)],
        state=state,
        plugins=[PydanticPlugin(prefer_alias=True)],
        exception_handlers=exception_handlers(),
        before_request=_require_json_body,
        request_max_body_size=settings.app.request_max_body_bytes,
        openapi_config=openapi_config(),
        cors_config=cors,
        # errors.py logs what it maps to a 500; Litestar logging the same exception again would be noise.
        logging_config=LoggingConfig(
            root={"handlers": ["queue_listener"], "level": settings.log.level.upper()}, log_exceptions="never"
        ),
        debug=False,
    )
