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


async def test_failures_lock_only_the_client_that_spent_them() -> None:
    throttle, clock = make(ThrottleLimits(max_failures_per_client=3, lockout_s=60, delay_after_failures=100))
    attacker = Subjects(user_id=uuid.uuid4(), device="dev-1", client_ip="10.0.0.1")
    for _ in range(2):
        await throttle.check(attacker)
        assert not await throttle.failed(attacker)
    await throttle.check(attacker)
    assert await throttle.failed(attacker)
    with pytest.raises(TooManyAttemptsError) as info:
        await throttle.check(attacker)
    assert info.value.status == 429
    assert 1 <= int(info.value.headers["Retry-After"]) <= 60
    # Another user, even from the same address, still gets to try the same device: no lockout by proxy.
    await throttle.check(Subjects(user_id=uuid.uuid4(), device="dev-1", client_ip="10.0.0.1"))
    clock.t += 61
    await throttle.check(attacker)


async def test_a_target_under_attack_slows_only_clients_that_failed_on_it() -> None:
    throttle, clock = make(
        ThrottleLimits(delay_after_failures=2, delay_base_s=4, max_failures_per_client=100)
    )
    attacker = Subjects(device="dev-1", client_ip="10.0.0.1")
    for _ in range(3):
        clock.t += 100  # past any delay, inside the window
        await throttle.check(attacker)
        await throttle.failed(attacker)
    with pytest.raises(TooManyAttemptsError) as info:
        await throttle.check(attacker)
    assert info.value.headers["Retry-After"] == "8"  # 4 s doubled once: one failure past the threshold
    await throttle.check(Subjects(device="dev-1", client_ip="10.0.0.2"))  # never failed: not slowed
    clock.t += 8
    await throttle.check(attacker)


async def test_wrong_secrets_from_a_noisy_address_do_not_block_a_right_one() -> None:
    throttle, _ = make(ThrottleLimits(max_failures_per_ip=3, max_failures_per_client=100))
    waits = [await throttle.failed(Subjects(client_ip="10.0.0.1", credential=f"guess-{i}")) for i in range(5)]
    assert waits[:3] == [0, 0, 0]
    assert all(w > 0 for w in waits[3:])  # the noisy client's wrong secrets now answer 429
    # A neighbour behind the same address presenting its own (right) secret is not locked.
    await throttle.check(Subjects(client_ip="10.0.0.1", credential="neighbour"))
    assert not await throttle.locked(Subjects(client_ip="10.0.0.1", credential="neighbour"))


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
