"""Accounts and sessions: signup, login, refresh-token rotation, logout, access-token checks."""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from petit.auth.errors import (
    EmailTakenError,
    ExpiredAccessTokenError,
    InvalidAccessTokenError,
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    LoginThrottledError,
    RefreshTokenReusedError,
    RevokedAccessTokenError,
)
from petit.auth.revocations import CHANNEL, FAMILY, JTI, marker_key, revocation_message
from petit.auth.schemas import TokenPair
from petit.db.models import RefreshToken, User
from petit.lib.security import (
    AccessClaims,
    AccessTokenCodec,
    ExpiredTokenError,
    InvalidTokenError,
    PasswordHasher,
    hash_refresh_token,
    new_refresh_token,
)

if TYPE_CHECKING:
    from petit.auth.repositories import RefreshTokenRepository
    from petit.auth.revocations import RevocationView
    from petit.lib.cache import Cache
    from petit.lib.clock import Clock
    from petit.settings import AuthSettings
    from petit.users.linking import PlatformLinker
    from petit.users.repositories import UserRepository


def _revoked_jti_key(jti: str) -> str:
    return marker_key(JTI, jti)


def _revoked_family_key(family_id: uuid.UUID) -> str:
    return marker_key(FAMILY, str(family_id))


class LoginThrottle:
    """Guessing is limited without handing anyone a way to lock a user out of their own account.

    * per client IP: attempts per window, right or wrong (spraying many accounts from one place);
    * per (account, client IP): wrong passwords per window, strictly; a client exhausting it waits the
      window out, and only that client;
    * per account: wrong passwords from anywhere make a progressive delay, which only clients that have
      themselves failed on the account must respect. A client that has not failed is never slowed, so the
      owner logs in while someone else guesses at their account.

    Counters live in the shared cache, so every petit instance sees them.
    """

    def __init__(self, cache: Cache, clock: Clock, settings: AuthSettings) -> None:
        self._cache = cache
        self._clock = clock
        self._settings = settings

    @staticmethod
    def _keys(email: str, client_ip: str) -> tuple[str, str, str]:
        # Hash the address so Redis keys do not hold personal data.
        account = hashlib.sha256(email.encode()).hexdigest()[:32]
        pair = hashlib.sha256(f"{account}|{client_ip}".encode()).hexdigest()[:32]
        return f"auth:login:fail:{account}", f"auth:login:fail:{pair}", f"auth:login:last:{pair}"

    def _delay_s(self, account_failures: int) -> float:
        over = account_failures - self._settings.login_delay_after_failures
        if over < 0:
            return 0.0
        return float(
            min(self._settings.login_delay_max_s, self._settings.login_delay_base_s * 2 ** min(over, 30))
        )

    async def check(self, email: str, client_ip: str) -> None:
        s = self._settings
        per_ip, ip_reset = await self._cache.hit(f"auth:login:ip:{client_ip}", window_s=s.login_window_s)
        if per_ip > s.login_max_per_ip:
            raise LoginThrottledError(retry_after_s=max(1, math.ceil(ip_reset)))
        account_key, _, last_key = self._keys(email, client_ip)
        last = await self._cache.get(last_key)
        if last is None:
            return  # this client has not failed on this account lately: nothing applies to it
        last_at, pair_failures, window_ends = (float(v) for v in last.split(":"))
        now = self._clock.now().timestamp()
        if pair_failures >= s.login_max_failures_per_client:
            raise LoginThrottledError(retry_after_s=max(1, math.ceil(window_ends - now)))
        account_failures = int(await self._cache.get(account_key) or 0)
        wait = last_at + self._delay_s(account_failures) - now
        if wait > 0:
            raise LoginThrottledError(retry_after_s=max(1, math.ceil(wait)))

    async def failed(self, email: str, client_ip: str) -> None:
        window = self._settings.login_window_s
        account_key, pair_key, last_key = self._keys(email, client_ip)
        await self._cache.hit(account_key, window_s=window)
        pair_failures, reset_s = await self._cache.hit(pair_key, window_s=window)
        now = self._clock.now().timestamp()
        # One read in check(): when this client last failed, how often, and when its window ends.
        await self._cache.set(last_key, f"{now}:{pair_failures}:{now + reset_s}", ttl_s=max(reset_s, 1.0))

    async def succeeded(self, email: str, client_ip: str) -> None:
        # The client proved it knows the password: its own slate is clean (the account's count stays, it
        # measures what others are doing).
        _, pair_key, last_key = self._keys(email, client_ip)
        await self._cache.delete(pair_key, last_key)


class AccessTokenVerifier:
    """The check every authenticated request makes. It needs no database session, so the routes that only
    authenticate do not open one, and the websocket hub can share it.

    With a :class:`RevocationView` that is current, the revocation check is a dictionary lookup in this
    process; otherwise (no Redis, or the view lost its subscription) it asks the cache, as a 503 if that
    cannot answer: a revoked token is never let through because the view is behind."""

    def __init__(
        self,
        *,
        codec: AccessTokenCodec,
        cache: Cache,
        clock: Clock,
        revocations: RevocationView | None = None,
    ) -> None:
        self._codec = codec
        self._cache = cache
        self._clock = clock
        self.revocations = revocations
        #: Checks answered by the view / by the cache (tests and the bench read them).
        self.local_checks = 0
        self.remote_checks = 0

    async def verify(self, access_token: str) -> AccessClaims:
        try:
            claims = self._codec.decode(access_token, now=self._clock.now())
        except ExpiredTokenError as exc:
            raise ExpiredAccessTokenError from exc
        except InvalidTokenError as exc:
            raise InvalidAccessTokenError from exc
        view = self.revocations
        if view is not None and view.current():
            self.local_checks += 1
            if view.revoked(claims.jti, str(claims.family_id)):
                raise RevokedAccessTokenError
            return claims
        self.remote_checks += 1
        if await self._cache.exists_any(_revoked_jti_key(claims.jti), _revoked_family_key(claims.family_id)):
            raise RevokedAccessTokenError
        return claims

    async def revoke(self, kind: str, ident: str, *, ttl_s: float) -> None:
        """Set a marker, tell every process, and note it here at once (before the logout answers)."""
        await self._cache.set(marker_key(kind, ident), "1", ttl_s=ttl_s)
        if self.revocations is not None:
            self.revocations.add(kind, ident, ttl_s)
        await self._cache.publish(CHANNEL, revocation_message(kind, ident, ttl_s))


class AuthService:
    def __init__(
        self,
        *,
        users: UserRepository,
        refresh_tokens: RefreshTokenRepository,
        hasher: PasswordHasher,
        codec: AccessTokenCodec,
        cache: Cache,
        clock: Clock,
        settings: AuthSettings,
        verifier: AccessTokenVerifier | None = None,
        linker: PlatformLinker | None = None,
        link_timeout_s: float = 5.0,
    ) -> None:
        self._verifier = verifier or AccessTokenVerifier(codec=codec, cache=cache, clock=clock)
        self._users = users
        self._linker = linker
        self._link_timeout_s = link_timeout_s
        self._refresh_tokens = refresh_tokens
        self._hasher = hasher
        self._codec = codec
        self._cache = cache
        self._clock = clock
        self._settings = settings
        self._throttle = LoginThrottle(cache, clock, settings)

    async def signup(self, email: str, password: str) -> User:
        if await self._users.get_by_email(email) is not None:
            raise EmailTakenError
        # argon2 takes tens of milliseconds of CPU on purpose; keep it off the event loop.
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        now = self._clock.now()
        user = User(email=email, password_hash=password_hash, created_at=now, updated_at=now)
        try:
            await self._users.add(user)
        except IntegrityError as exc:
            # Lost a race with a concurrent signup for the same address.
            raise EmailTakenError from exc
        if self._linker is not None:
            # Best effort and bounded: ThingsBoard being down must not block signups; a pending user is
            # linked later by the next device request or the background link task.
            await self._linker.try_link(user, timeout_s=self._link_timeout_s)
        return user

    async def login(self, email: str, password: str, *, client_ip: str) -> TokenPair:
        await self._throttle.check(email, client_ip)
        user = await self._users.get_by_email(email)
        if user is None:
            await asyncio.to_thread(self._hasher.burn, password)
            await self._throttle.failed(email, client_ip)
            raise InvalidCredentialsError
        ok, new_hash = await asyncio.to_thread(self._hasher.verify, password, user.password_hash)
        if not ok:
            await self._throttle.failed(email, client_ip)
            raise InvalidCredentialsError
        await self._throttle.succeeded(email, client_ip)
        if new_hash is not None:
            user.password_hash = new_hash
            user.updated_at = self._clock.now()
        return await self._issue(user.id, family_id=uuid.uuid4())

    async def refresh(self, refresh_token: str) -> TokenPair:
        now = self._clock.now()
        token_hash = hash_refresh_token(refresh_token)
        spent = await self._refresh_tokens.spend(token_hash, now=now)
        if spent is not None:
            return await self._issue(spent.user_id, family_id=spent.family_id)
        known = await self._refresh_tokens.get_by_hash(token_hash)
        if known is not None and known.used_at is not None and known.revoked_at is None:
            # A spent token came back: either the client or a thief holds a copy. We cannot tell which, so the
            # whole session dies, including access tokens already issued from it.
            await self._revoke_family(known.family_id)
            raise RefreshTokenReusedError
        raise InvalidRefreshTokenError

    async def logout(self, claims: AccessClaims) -> None:
        remaining = (claims.expires_at - self._clock.now()).total_seconds()
        await self._verifier.revoke(JTI, claims.jti, ttl_s=max(remaining, 1.0))
        await self._revoke_family(claims.family_id)

    async def _revoke_family(self, family_id: uuid.UUID) -> None:
        await self._refresh_tokens.revoke_family(family_id, now=self._clock.now())
        # Access tokens carry their family; the marker outlives the longest one still in circulation.
        await self._verifier.revoke(FAMILY, str(family_id), ttl_s=self._codec.ttl.total_seconds() + 60)

    async def _issue(self, user_id: uuid.UUID, *, family_id: uuid.UUID) -> TokenPair:
        now = self._clock.now()
        access_token, _ = self._codec.encode(user_id=user_id, family_id=family_id, now=now)
        refresh_token = new_refresh_token()
        refresh_ttl = timedelta(seconds=self._settings.refresh_token_ttl_s)
        await self._refresh_tokens.add(
            RefreshToken(
                user_id=user_id,
                family_id=family_id,
                token_hash=hash_refresh_token(refresh_token),
                created_at=now,
                expires_at=now + refresh_ttl,
            )
        )
        return TokenPair(
            access_token=access_token,
            expires_in=int(self._codec.ttl.total_seconds()),
            refresh_token=refresh_token,
            refresh_expires_in=int(refresh_ttl.total_seconds()),
        )
