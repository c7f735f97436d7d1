"""Providers for the machinery every ownership flow shares: audit, attempt throttle, secret digests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from litestar.datastructures import State
from litestar.di import NamedDependency

from petit.audit.services import DeviceEventService
from petit.db.engine import create_engine, create_sessionmaker, is_sqlite
from petit.lib.secrets import SecretHasher, derive_pepper
from petit.lib.throttle import AttemptThrottle, ThrottleLimits
from petit.settings import OwnershipSettings, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

#: Connections of the audit pool; an event is one short INSERT, so a few serve many requests.
_AUDIT_POOL_SIZE = 4


@asynccontextmanager
async def audit_pool(state: State, settings: Settings) -> AsyncIterator[None]:
    """A small pool of its own for audit writes. Events are written in their own transaction while the
    request still holds its connection; drawing both from one pool lets a burst of requests take every
    connection and then wait forever for a second one."""
    if is_sqlite(settings.db.url):
        # One file, one writer: a second engine would only contend for the same lock. And a request that
        # already wrote holds that lock until it commits, so its event is written just after (deferred).
        pending: set[asyncio.Task[None]] = set()
        state.audit_pending = pending
        try:
            yield
        finally:
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        return
    engine = create_engine(settings.db.model_copy(update={"pool_size": _AUDIT_POOL_SIZE, "max_overflow": 0}))
    state.audit_sessionmaker = create_sessionmaker(engine)
    try:
        yield
    finally:
        await engine.dispose()


def audit_sessionmaker(state: State) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = state.get("audit_sessionmaker") or state.sessionmaker
    return sessionmaker


def device_events(state: State) -> DeviceEventService:
    return DeviceEventService(
        sessionmaker=audit_sessionmaker(state), clock=state.clock, deferred=state.get("audit_pending")
    )


def throttle_limits(settings: OwnershipSettings) -> ThrottleLimits:
    return ThrottleLimits(
        window_s=settings.attempt_window_s,
        max_attempts_per_user=settings.max_attempts_per_user,
        max_attempts_per_device=settings.max_attempts_per_device,
        max_attempts_per_ip=settings.max_attempts_per_ip,
        max_failures_per_user=settings.max_failures_per_user,
        max_failures_per_device=settings.max_failures_per_device,
        max_failures_per_ip=settings.max_failures_per_ip,
        lockout_s=settings.lockout_s,
    )


def secret_hasher(settings: Settings) -> SecretHasher:
    return SecretHasher(derive_pepper(settings.auth.jwt_secret.get_secret_value()))


async def provide_device_events(state: State) -> DeviceEventService:
    return device_events(state)


async def provide_attempt_throttle(state: State, settings: NamedDependency[Settings]) -> AttemptThrottle:
    return AttemptThrottle(state.cache, state.clock, throttle_limits(settings.ownership))


async def provide_secret_hasher(settings: NamedDependency[Settings]) -> SecretHasher:
    return secret_hasher(settings)
