"""Attempt throttling with lockout for every flow that checks a one-time secret (pairing, claiming,
provisioning): one implementation, one set of counters, so a guesser cannot spread attempts across flows.

A failure budget locks out only the (target, client) pair that spent it, or a signed-in user (who can only
lock themselves): nobody can aim a lockout at someone else (see :class:`AttemptThrottle`). Counters live in
the shared cache (Redis), so every petit instance sees them.
"""

from __future__ import annotations

import hashlib
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
    max_attempts_per_ip: int = 120
    max_failures_per_user: int = 10
    # A device's secret is what brute force targets; few wrong guesses are allowed per client.
    max_failures_per_client: int = 5
    """Wrong secrets per (target, client) before that pair, and only it, is locked out."""
    max_failures_per_ip: int = 20
    """Wrong secrets from one address before its further wrong ones answer 429 (a right one still works)."""
    delay_after_failures: int = 5
    """Wrong secrets for one target (from anyone) before clients that failed on it must wait between tries."""
    delay_base_s: float = 1.0
    delay_max_s: float = 60.0
    lockout_s: int = 15 * 60
    """How long a locked (target, client) pair or user stays locked."""


@dataclass(frozen=True, slots=True)
class Subjects:
    """Who is trying what from where; any may be unknown (a device calling without a user, say).

    ``device`` is the target the secret guards; the client is the signed-in user, else the address, plus
    ``credential`` (a digest of the presented secret) in flows where the secret is the only identifier, so
    one device retrying a stale key behind a NAT is told apart from its neighbours.
    """

    user_id: uuid.UUID | None = None
    device: str | None = None
    client_ip: str | None = None
    credential: str | None = None

    def client(self) -> str:
        parts = [f"user:{self.user_id}" if self.user_id is not None else f"ip:{self.client_ip or '-'}"]
        if self.credential:
            parts.append(f"cred:{self.credential}")
        return "|".join(parts)

    def pair(self) -> str:
        raw = f"{self.device or '-'}>{self.client()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def credential_digest(secret: str | None) -> str:
    """A short, non-reversible name for a presented secret, to key its throttling counters."""
    return hashlib.sha256((secret or "").encode()).hexdigest()[:16]


class AttemptThrottle:
    """``check`` before verifying a secret, ``failed`` after a wrong one.

    Nothing here lets one party lock out another: locks are per (target, client) pair and per signed-in
    user (who can only lock themselves). Failures against a target from anyone make a progressive delay
    that only clients which have themselves failed on it must respect; failures from one address make its
    *wrong* secrets answer 429, never a right one. Rates on attempts (right or wrong) per user and per
    address bound the work a client can cause.
    """

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

    def _locks(self, subjects: Subjects) -> list[str]:
        keys = [self._key("lock", "pair", subjects.pair())]
        if subjects.user_id is not None:
            keys.append(self._key("lock", "user", str(subjects.user_id)))
        return keys

    async def _locked_for(self, subjects: Subjects) -> float:
        now = self._clock.now().timestamp()
        wait = 0.0
        for key in self._locks(subjects):
            until = await self._cache.get(key)
            if until is not None:
                wait = max(wait, float(until) - now, 1.0)
        return wait

    async def _delayed_for(self, subjects: Subjects) -> float:
        if not subjects.device:
            return 0.0
        last = await self._cache.get(self._key("last", "pair", subjects.pair()))
        if last is None:
            return 0.0  # this client has not failed on this target: the delay is not for it
        failures = int(await self._cache.get(self._key("failures", "device", subjects.device)) or 0)
        over = failures - self.limits.delay_after_failures
        if over < 0:
            return 0.0
        delay = float(min(self.limits.delay_max_s, self.limits.delay_base_s * 2 ** min(over, 30)))
        return max(0.0, float(last) + delay - self._clock.now().timestamp())

    async def locked(self, subjects: Subjects) -> bool:
        return await self._locked_for(subjects) > 0

    async def check(self, subjects: Subjects) -> None:
        """Count an attempt; raise ``TooManyAttemptsError`` if the client is locked, delayed or over rate."""
        wait = max(await self._locked_for(subjects), await self._delayed_for(subjects))
        if wait > 0:
            raise TooManyAttemptsError(wait)
        rates = []
        if subjects.user_id is not None:
            rates.append(("user", str(subjects.user_id), self.limits.max_attempts_per_user))
        if subjects.client_ip:
            rates.append(("ip", subjects.client_ip, self.limits.max_attempts_per_ip))
        for kind, ident, limit in rates:
            count, reset_s = await self._cache.hit(
                self._key("attempts", kind, ident), window_s=self.limits.window_s
            )
            if count > limit:
                raise TooManyAttemptsError(reset_s)

    async def failed(self, subjects: Subjects) -> float:
        """Count a wrong secret; return how long this client must now wait (0: answer 401 as usual)."""
        limits = self.limits
        now = self._clock.now().timestamp()
        wait = 0.0
        budgets = [("pair", subjects.pair(), limits.max_failures_per_client)]
        if subjects.user_id is not None:
            budgets.append(("user", str(subjects.user_id), limits.max_failures_per_user))
        for kind, ident, budget in budgets:
            count, _ = await self._cache.hit(self._key("failures", kind, ident), window_s=limits.window_s)
            if count >= budget:
                await self._cache.set(
                    self._key("lock", kind, ident), str(now + limits.lockout_s), ttl_s=limits.lockout_s
                )
                wait = float(limits.lockout_s)
        if subjects.device:
            await self._cache.hit(self._key("failures", "device", subjects.device), window_s=limits.window_s)
            await self._cache.set(self._key("last", "pair", subjects.pair()), str(now), ttl_s=limits.window_s)
        if subjects.client_ip:
            count, reset_s = await self._cache.hit(
                self._key("failures", "ip", subjects.client_ip), window_s=limits.window_s
            )
            if count > limits.max_failures_per_ip:
                wait = max(wait, reset_s, 1.0)
        return wait

    async def unlock(self, subjects: Subjects) -> None:
        """Operator relief: forget a client's locks and failures (not exposed over HTTP)."""
        keys = [*self._locks(subjects), self._key("failures", "pair", subjects.pair())]
        keys.append(self._key("last", "pair", subjects.pair()))
        if subjects.user_id is not None:
            keys += [self._key(w, "user", str(subjects.user_id)) for w in ("failures", "attempts")]
        await self._cache.delete(*keys)


__all__ = ["AttemptThrottle", "Subjects", "ThrottleLimits", "TooManyAttemptsError", "credential_digest"]
