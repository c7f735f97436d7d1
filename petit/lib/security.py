"""Password hashing, access tokens and refresh tokens. No I/O and no framework imports."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from passlib.context import CryptContext

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - the JWT "typ" claim, not a secret
_JWT_ALGORITHM = "HS256"
#: Verified tokens remembered per codec (per process): apps send the same token on every request until it
#: expires, and checking its signature and claims again each time is a measurable part of a fast read.
VERIFIED_TOKENS_MAX = 4096


class PasswordHasher:
    """argon2id through passlib; ``verify`` also says when a stored hash uses outdated parameters."""

    def __init__(self, *, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__time_cost=time_cost,
            argon2__memory_cost=memory_cost_kib,
            argon2__parallelism=parallelism,
        )
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return str(self._context.hash(password))

    def verify(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        """Return ``(matches, new_hash)``; ``new_hash`` is set when the stored hash should be replaced."""
        ok, new_hash = self._context.verify_and_update(password, stored_hash)
        return bool(ok), (str(new_hash) if new_hash else None)

    def burn(self, password: str) -> None:
        """Spend the time of a real verification, for logins to unknown accounts.

        Without it, "no such email" would answer measurably faster than "wrong password" and leak which
        addresses have accounts.
        """
        if self._dummy_hash is None:
            self._dummy_hash = self.hash(secrets.token_urlsafe(16))
        self._context.verify(password, self._dummy_hash)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    jti: str
    family_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime


class InvalidTokenError(Exception):
    """The token is not one we issued, or it was altered."""


class ExpiredTokenError(InvalidTokenError):
    """The token was ours but its ``exp`` has passed."""


class AccessTokenCodec:
    def __init__(self, *, secret: str, issuer: str, ttl: timedelta) -> None:
        self._secret = secret
        self._issuer = issuer
        self.ttl = ttl
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def encode(self, *, user_id: uuid.UUID, family_id: uuid.UUID, now: datetime) -> tuple[str, AccessClaims]:
        claims = AccessClaims(
            user_id=user_id,
            jti=uuid.uuid4().hex,
            family_id=family_id,
            issued_at=now,
            expires_at=now + self.ttl,
        )
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "sub": str(user_id),
            "jti": claims.jti,
            "fid": str(family_id),
            "typ": ACCESS_TOKEN_TYPE,
            "iat": int(now.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        }
        return jwt.encode(payload, self._secret, algorithm=_JWT_ALGORITHM), claims

    def decode(self, token: str, *, now: datetime) -> AccessClaims:
        """The token's claims if we signed it and it has not expired. Revocation is the caller's check.

        A token seen before is answered from memory: the key is the whole token, signature included, so only
        the exact bytes that passed verification match; expiry is still checked against ``now`` every time.
        """
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token, now=now)
            self._verified[token] = claims
            if len(self._verified) > VERIFIED_TOKENS_MAX:
                self._verified.popitem(last=False)
        # Expiry is checked against the injected clock rather than pyjwt's wall clock, so tests can move time.
        if claims.expires_at <= now:
            self._verified.pop(token, None)
            raise ExpiredTokenError("token expired")
        return claims

    def _verify(self, token: str, *, now: datetime) -> AccessClaims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[_JWT_ALGORITHM],
                issuer=self._issuer,
                options={"require": ["sub", "jti", "exp", "iat", "typ", "fid"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from exc
        if payload.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError("not an access token")
        try:
            claims = AccessClaims(
                user_id=uuid.UUID(str(payload["sub"])),
                jti=str(payload["jti"]),
                family_id=uuid.UUID(str(payload["fid"])),
                issued_at=datetime.fromtimestamp(int(payload["iat"]), tz=now.tzinfo),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidTokenError("malformed claims") from exc
        return claims


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash is enough: the token is 256 random bits, so there is nothing to brute-force; the hash only
    # keeps a database leak from handing out live tokens.
    return hashlib.sha256(token.encode()).hexdigest()
