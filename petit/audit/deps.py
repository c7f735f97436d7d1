"""Providers for the machinery every ownership flow shares: audit, attempt throttle, secret digests."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency

from petit.audit.services import DeviceEventService
from petit.lib.secrets import SecretHasher, derive_pepper
from petit.lib.throttle import AttemptThrottle, ThrottleLimits
from petit.settings import OwnershipSettings, Settings


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
    return DeviceEventService(sessionmaker=state.sessionmaker, clock=state.clock)


async def provide_attempt_throttle(state: State, settings: NamedDependency[Settings]) -> AttemptThrottle:
    return AttemptThrottle(state.cache, state.clock, throttle_limits(settings.ownership))


async def provide_secret_hasher(settings: NamedDependency[Settings]) -> SecretHasher:
    return secret_hasher(settings)
