"""The composition root: everything a request or a background job needs, built once at start-up.

``open_runtime`` builds one typed :class:`Runtime` from settings and the collaborators ``create_app`` was
given, starts the background jobs, and closes what it opened. Feature ``deps.py`` providers take the runtime
as their one app-level dependency and build their services from it; nothing reads ``app.state`` keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import Redis

from petit.auth.revocations import RevocationView
from petit.auth.services import AccessTokenVerifier
from petit.db.engine import create_engine, create_sessionmaker
from petit.devices.sweeper import IntentSweeper
from petit.errors import PlatformUnavailableError
from petit.health.services import HealthService
from petit.lib.cache import Cache, MemoryCache, RedisCache
from petit.lib.reconnect import stop_task
from petit.lib.secrets import SecretHasher, derive_pepper
from petit.lib.security import AccessTokenCodec, PasswordHasher
from petit.lib.throttle import AttemptThrottle, ThrottleLimits
from petit.pairing.watcher import start_pairing_watcher
from petit.provisioning.setup import prepare_provisioning_profile
from petit.realtime.config import StreamLimits
from petit.realtime.setup import open_hub
from petit.thingsboard.client import ThingsBoardClient
from petit.users.linking import PlatformLinker, PlatformLinkTask

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from litestar import Litestar
    from litestar.datastructures import State
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from petit.lib.clock import Clock
    from petit.pairing.services import PairingWatcher
    from petit.realtime.hub import Hub
    from petit.settings import OwnershipSettings, Settings
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

T = TypeVar("T")

_RUNTIME_KEY = "petit_runtime"
#: How long one component may take to stop. Past it, shutdown logs the component and goes on without it: a
#: process that hangs on SIGTERM is killed by its supervisor with nothing said, and its peers' work with it.
STOP_DEADLINE_S = 10.0


def throttle_limits(settings: OwnershipSettings) -> ThrottleLimits:
    return ThrottleLimits(
        window_s=settings.attempt_window_s,
        max_attempts_per_user=settings.max_attempts_per_user,
        max_attempts_per_ip=settings.max_attempts_per_ip,
        max_failures_per_user=settings.max_failures_per_user,
        max_failures_per_client=settings.max_failures_per_device,
        max_failures_per_ip=settings.max_failures_per_ip,
        delay_after_failures=settings.delay_after_failures,
        delay_base_s=settings.delay_base_s,
        delay_max_s=settings.delay_max_s,
        lockout_s=settings.lockout_s,
    )


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.auth.argon2_time_cost,
        memory_cost_kib=settings.auth.argon2_memory_cost_kib,
        parallelism=settings.auth.argon2_parallelism,
    )


def token_codec(settings: Settings) -> AccessTokenCodec:
    return AccessTokenCodec(
        secret=settings.auth.jwt_secret.get_secret_value(),
        issuer=settings.auth.jwt_issuer,
        ttl=timedelta(seconds=settings.auth.access_token_ttl_s),
    )


def secret_hasher(settings: Settings) -> SecretHasher:
    return SecretHasher(derive_pepper(settings.auth.jwt_secret.get_secret_value()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """One per app: the collaborators every feature builds its services from."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    #: Units of work that write; on SQLite they queue for the write lock at BEGIN (see petit.db.engine).
    sessionmaker: async_sessionmaker[AsyncSession]
    #: Units of work that only read (GET requests, websockets).
    read_sessionmaker: async_sessionmaker[AsyncSession]
    cache: Cache
    #: None only when no ThingsBoard is configured at all; features reach it through :attr:`platform`.
    thingsboard: ThingsBoardPort | None
    password_hasher: PasswordHasher
    token_codec: AccessTokenCodec
    token_verifier: AccessTokenVerifier
    secret_hasher: SecretHasher
    throttle: AttemptThrottle
    health: HealthService
    hub: Hub
    pairing_watcher: PairingWatcher | None
    sweeper: IntentSweeper | None

    @property
    def platform(self) -> ThingsBoardPort:
        """The ThingsBoard port, or a 503 for routes that need it when none is configured."""
        if self.thingsboard is None:
            raise PlatformUnavailableError("The device platform is not configured")
        return self.thingsboard

    @property
    def linker(self) -> PlatformLinker:
        return PlatformLinker(self.platform, self.clock)


class RuntimeSlot:
    """Where an app keeps its runtime between the lifespan that builds it and the requests that use it."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def fill(self, runtime: Runtime | None) -> None:
        self._runtime = runtime

    def get(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("petit's runtime is not running (outside the app's lifespan)")
        return self._runtime


def runtime_of(app: Litestar) -> Runtime:
    """The running app's runtime, for tests and tools that hold the app."""
    slot = app.state[_RUNTIME_KEY]
    assert isinstance(slot, RuntimeSlot)
    return slot.get()


def attach_slot(state: State, slot: RuntimeSlot) -> None:
    state[_RUNTIME_KEY] = slot


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    thingsboard: ThingsBoardPort | None,
    redis: Redis[Any] | None,
    clock: Clock,
    stream_limits: StreamLimits | None,
) -> AsyncIterator[Runtime]:
    """Build the runtime, start the background jobs; on exit stop them and close what was opened here.

    Collaborators passed in are used as given and not closed.
    """
    async with AsyncExitStack() as stack:
        engine = create_engine(settings.db)
        _on_stop(stack, "database", engine.dispose)
        shared_redis = redis
        if shared_redis is None and settings.redis.url:
            shared_redis = Redis.from_url(settings.redis.url)
            _on_stop(stack, "redis", shared_redis.aclose)  # type: ignore[attr-defined]
        cache: Cache = (
            RedisCache(
                shared_redis, prefix=settings.redis.key_prefix, timeout_s=settings.redis.command_timeout_s
            )
            if shared_redis is not None
            else MemoryCache(clock)
        )
        platform = thingsboard
        if platform is None and settings.thingsboard.url:
            # Tokens live in the same Redis as everything else so every worker shares one ThingsBoard login.
            client = ThingsBoardClient(
                settings.thingsboard.client_config(settings.redis.key_prefix), redis=shared_redis
            )
            _on_stop(stack, "thingsboard-client", client.aclose)
            platform = client
        sessionmaker = create_sessionmaker(engine)
        codec = token_codec(settings)
        revocations = None
        if shared_redis is not None:
            # Revocation checks answered in this process, kept current over pub/sub (petit.auth.revocations).
            revocations = RevocationView(shared_redis, prefix=settings.redis.key_prefix)
            await revocations.start()
            _on_stop(stack, "revocation-view", revocations.aclose)
            # Until it is current, checks go to Redis: start-up need not wait, it only saves round trips.
            await revocations.wait_current(timeout_s=settings.redis.command_timeout_s)
        verifier = AccessTokenVerifier(codec=codec, cache=cache, clock=clock, revocations=revocations)
        hub = await _enter(
            stack,
            "realtime-hub",
            open_hub(
                settings,
                redis=redis,
                sessionmaker=sessionmaker,
                thingsboard=platform,
                verifier=verifier,
                limits=stream_limits or StreamLimits(),
            ),
        )
        hasher = secret_hasher(settings)
        throttle = AttemptThrottle(cache, clock, throttle_limits(settings.ownership))
        watcher = None
        sweeper = None
        if platform is not None:
            linker = PlatformLinker(platform, clock)
            link_task = PlatformLinkTask(sessionmaker, linker)
            link_task.start()
            _on_stop(stack, "platform-link", link_task.stop)
            watcher = await _enter(
                stack,
                "pairing-watcher",
                start_pairing_watcher(
                    settings,
                    sessionmaker=sessionmaker,
                    thingsboard=platform,
                    hasher=hasher,
                    throttle=throttle,
                    hub=hub,
                    clock=clock,
                ),
            )
            sweeper = IntentSweeper(
                sessionmaker,
                platform,
                clock,
                grace_s=settings.ownership.intent_grace_s,
                interval_s=settings.ownership.intent_sweep_interval_s,
            )
            sweep_task = asyncio.create_task(sweeper.run(), name="petit-intent-sweeper")
            _on_stop(stack, "intent-sweeper", lambda: stop_task(sweep_task))
            await prepare_provisioning_profile(settings, platform, cache)
        health = HealthService(
            engine=engine,
            cache=cache,
            thingsboard=platform,
            db_timeout_s=settings.db.health_timeout_s,
            cache_timeout_s=settings.redis.health_timeout_s,
            thingsboard_timeout_s=settings.thingsboard.request_timeout_s,
        )
        _on_stop(stack, "health", health.aclose)
        yield Runtime(
            settings=settings,
            clock=clock,
            engine=engine,
            sessionmaker=sessionmaker,
            read_sessionmaker=create_sessionmaker(engine, write=False),
            cache=cache,
            thingsboard=platform,
            password_hasher=password_hasher(settings),
            token_codec=codec,
            token_verifier=verifier,
            secret_hasher=hasher,
            throttle=throttle,
            health=health,
            hub=hub,
            pairing_watcher=watcher,
            sweeper=sweeper,
        )


def _on_stop(stack: AsyncExitStack, component: str, stop: Callable[[], Awaitable[object]]) -> None:
    stack.push_async_callback(_stop_within_deadline, component, stop)


async def _enter(stack: AsyncExitStack, component: str, context: AbstractAsyncContextManager[T]) -> T:
    """Enter ``context`` on ``stack``; its exit, on a clean shutdown, is bounded like every other stop."""
    value = await context.__aenter__()

    async def leave(exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        outcome: list[bool | None] = [None]

        async def exit_context() -> None:
            outcome[0] = await context.__aexit__(exc_type, exc, tb)

        await _stop_within_deadline(component, exit_context)
        return bool(outcome[0])

    stack.push_async_exit(leave)
    return value


async def _stop_within_deadline(component: str, stop: Callable[[], Awaitable[object]]) -> None:
    started = time.monotonic()
    try:
        async with asyncio.timeout(STOP_DEADLINE_S):
            await stop()
    except TimeoutError:
        # The traceback shows where the stop was waiting when the deadline cut it.
        log.exception("runtime.stop_timeout component=%s deadline_s=%.0f", component, STOP_DEADLINE_S)
        return
    except Exception:
        # One component failing to close must not keep the others open.
        log.exception("runtime.stop_failed component=%s", component)
        return
    elapsed = time.monotonic() - started
    if elapsed > 1.0:
        log.warning("runtime.stop_slow component=%s elapsed_s=%.1f", component, elapsed)
