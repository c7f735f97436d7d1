"""Attempt throttling with lockout for every flow that checks a one-time secret (pairing, claiming,
provisioning): one implementation, one set of counters, so a guesser cannot spread attempts across flows.

Subjects are counted separately: the signed-in user, the device being attacked and the client IP. Each has a
rate limit on attempts (anything, right or wrong) and a failure budget; spending the failure budget locks the
subject out for ``lockout_s``. Counters live in the shared cache (Redis), so every petit instance sees them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from petit.errors import PetitError

if TYPE_CHECKING:
    import uuid

    from petit.lib.cache import Cache
    from petit.lib.clock import Clock


class TooManyAttemptsError(PetitError):
    code = "too_many_attempts"
    status = 429
    title = "Too many attempts; wait before trying again"

    def __init__(self, retry_after_s: float, detail: str | None = None) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(detail, headers={"Retry-After": str(self.retry_after_s)})


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    window_s: int = 15 * 60
    """Length of the fixed counting windows."""
    max_attempts_per_user: int = 60
    max_attempts_per_device: int = 30
    max_attempts_per_ip: int = 120
    max_failures_per_user: int = 10
    # A device's secret is what brute force targets; few wrong guesses are allowed before it is locked.
    max_failures_per_device: int = 5
    max_failures_per_ip: int = 20
    lockout_s: int = 15 * 60
    """How long a subject stays locked after spending its failure budget."""


@dataclass(frozen=True, slots=True)
class Subjects:
    """Who is trying what from where; any may be unknown (a device calling without a user, say)."""

    user_id: uuid.UUID | None = None
    device: str | None = None
    client_ip: str | None = None

    def keyed(self) -> list[tuple[str, str]]:
        out = []
        if self.user_id is not None:
            out.append(("user", str(self.user_id)))
        if self.device:
            out.append(("device", self.device))
        if self.client_ip:
            out.append(("ip", self.client_ip))
        return out


class AttemptThrottle:
    """``check`` before verifying a secret (counts the attempt, refuses locked subjects), ``failed`` after a
    wrong one. Success needs no call: counters simply run out with their window."""

    def __init__(
        self,
        cache: Cache,
        clock: Clock,
        limits: ThrottleLimits | None = None,
        *,
        namespace: str = "ownership",
    ) -> None:
        self._cache = cache
        self._clock = clock
        self.limits = limits or ThrottleLimits()
        self._ns = namespace

    def _key(self, what: str, kind: str, ident: str) -> str:
        return f"throttle:{self._ns}:{what}:{kind}:{ident}"

    def _max(self, what: str, kind: str) -> int:
        value: int = getattr(self.limits, f"max_{what}_per_{kind}")
        return value

    async def _locked_for(self, subjects: Subjects) -> float:
        now = self._clock.now().timestamp()
        wait = 0.0
        for kind, ident in subjects.keyed():
            until = await self._cache.get(self._key("lock", kind, ident))
            if until is not None:
                wait = max(wait, float(until) - now, 1.0)
        return wait

    async def locked(self, subjects: Subjects) -> bool:
        return await self._locked_for(subjects) > 0

    async def check(self, subjects: Subjects) -> None:
        """Count an attempt; raise ``TooManyAttemptsError`` if any subject is locked or over its rate."""
        wait = await self._locked_for(subjects)
        if wait > 0:
            raise TooManyAttemptsError(wait)
        for kind, ident in subjects.keyed():
            count, reset_s = await self._cache.hit(
                self._key("attempts", kind, ident), window_s=self.limits.window_s
            )
            if count > self._max("attempts", kind):
                raise TooManyAttemptsError(reset_s)

    async def failed(self, subjects: Subjects) -> bool:
        """Count a wrong secret; lock every subject whose failure budget is spent. True if any got locked."""
        locked = False
        until = self._clock.now().timestamp() + self.limits.lockout_s
        for kind, ident in subjects.keyed():
            count, _ = await self._cache.hit(
                self._key("failures", kind, ident), window_s=self.limits.window_s
            )
            if count >= self._max("failures", kind):
                await self._cache.set(self._key("lock", kind, ident), str(until), ttl_s=self.limits.lockout_s)
                locked = True
        return locked

    async def unlock(self, subjects: Subjects) -> None:
        """Operator relief: forget a subject's lock and failures (not exposed over HTTP)."""
        keys = []
        for kind, ident in subjects.keyed():
            keys += [self._key(w, kind, ident) for w in ("lock", "failures", "attempts")]
        await self._cache.delete(*keys)


__all__ = ["AttemptThrottle", "Subjects", "ThrottleLimits", "TooManyAttemptsError"]
