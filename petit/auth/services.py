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
    from petit.lib.cache import Cache
    from petit.lib.clock import Clock
    from petit.settings import AuthSettings
    from petit.users.linking import PlatformLinker
    from petit.users.repositories import UserRepository


def _revoked_jti_key(jti: str) -> str:
    return f"auth:revoked:jti:{jti}"


def _revoked_family_key(family_id: uuid.UUID) -> str:
    return f"auth:revoked:family:{family_id}"


class LoginThrottle:
    """Fixed-window counters per account and per client IP, kept in the shared cache."""

    def __init__(self, cache: Cache, settings: AuthSettings) -> None:
        self._cache = cache
        self._settings = settings

    async def check(self, email: str, client_ip: str) -> None:
        window = self._settings.login_window_s
        # Hash the address so Redis keys do not hold personal data.
        account = hashlib.sha256(email.encode()).hexdigest()[:32]
        per_account, account_reset = await self._cache.hit(f"auth:login:account:{account}", window_s=window)
        per_ip, ip_reset = await self._cache.hit(f"auth:login:ip:{client_ip}", window_s=window)
        waits = []
        if per_account > self._settings.login_max_per_account:
            waits.append(account_reset)
        if per_ip > self._settings.login_max_per_ip:
            waits.append(ip_reset)
        if waits:
            raise LoginThrottledError(retry_after_s=max(1, math.ceil(max(waits))))


class AccessTokenVerifier:
    """The check every authenticated request makes. It needs no database session, so the routes that only
    authenticate do not open one, and the websocket hub can share it."""

    def __init__(self, *, codec: AccessTokenCodec, cache: Cache, clock: Clock) -> None:
        self._codec = codec
        self._cache = cache
        self._clock = clock

    async def verify(self, access_token: str) -> AccessClaims:
        try:
            claims = self._codec.decode(access_token, now=self._clock.now())
        except ExpiredTokenError as exc:
            raise ExpiredAccessTokenError from exc
        except InvalidTokenError as exc:
            raise InvalidAccessTokenError from exc
        if await self._cache.exists_any(_revoked_jti_key(claims.jti), _revoked_family_key(claims.family_id)):
            raise RevokedAccessTokenError
        return claims


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
        linker: PlatformLinker | None = None,
        link_timeout_s: float = 5.0,
    ) -> None:
        self._users = users
        self._linker = linker
        self._link_timeout_s = link_timeout_s
        self._refresh_tokens = refresh_tokens
        self._hasher = hasher
        self._codec = codec
        self._cache = cache
        self._clock = clock
        self._settings = settings
        self._throttle = LoginThrottle(cache, settings)

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
            raise InvalidCredentialsError
        ok, new_hash = await asyncio.to_thread(self._hasher.verify, password, user.password_hash)
        if not ok:
            raise InvalidCredentialsError
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
        await self._cache.set(_revoked_jti_key(claims.jti), "1", ttl_s=max(remaining, 1.0))
        await self._revoke_family(claims.family_id)

    async def _revoke_family(self, family_id: uuid.UUID) -> None:
        await self._refresh_tokens.revoke_family(family_id, now=self._clock.now())
        # Access tokens carry their family; the marker outlives the longest one still in circulation.
        await self._cache.set(_revoked_family_key(family_id), "1", ttl_s=self._codec.ttl.total_seconds() + 60)

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
