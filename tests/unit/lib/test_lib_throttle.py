from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from petit.lib.cache import MemoryCache
from petit.lib.throttle import AttemptThrottle, Subjects, ThrottleLimits, TooManyAttemptsError

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=UTC)

    def monotonic(self) -> float:
        return self.t


def make(limits: ThrottleLimits) -> tuple[AttemptThrottle, FakeClock]:
    clock = FakeClock()
    return AttemptThrottle(MemoryCache(clock), clock, limits), clock


async def test_failures_lock_the_device_for_everyone_until_lockout_ends() -> None:
    throttle, clock = make(ThrottleLimits(max_failures_per_device=3, lockout_s=60))
    attacker = Subjects(user_id=uuid.uuid4(), device="dev-1", client_ip="10.0.0.1")
    for _ in range(2):
        await throttle.check(attacker)
        assert not await throttle.failed(attacker)
    await throttle.check(attacker)
    assert await throttle.failed(attacker)
    # Another user from another address is locked out of the same device too.
    with pytest.raises(TooManyAttemptsError) as info:
        await throttle.check(Subjects(user_id=uuid.uuid4(), device="dev-1", client_ip="10.0.0.2"))
    assert info.value.status == 429
    assert 1 <= int(info.value.headers["Retry-After"]) <= 60
    # A different device is not affected.
    await throttle.check(Subjects(user_id=uuid.uuid4(), device="dev-2", client_ip="10.0.0.2"))
    clock.t += 61
    await throttle.check(Subjects(device="dev-1"))


async def test_attempt_rate_limit_counts_successes_too() -> None:
    throttle, _ = make(ThrottleLimits(max_attempts_per_ip=2))
    subject = Subjects(client_ip="10.0.0.9")
    await throttle.check(subject)
    await throttle.check(subject)
    with pytest.raises(TooManyAttemptsError):
        await throttle.check(subject)


async def test_unlock_forgets_a_subject() -> None:
    throttle, _ = make(ThrottleLimits(max_failures_per_user=1))
    subject = Subjects(user_id=uuid.uuid4())
    await throttle.failed(subject)
    assert await throttle.locked(subject)
    await throttle.unlock(subject)
    assert not await throttle.locked(subject)
    await throttle.check(subject)
