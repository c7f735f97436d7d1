"""Passwords and ThingsBoard-style JWTs (reference §1.2, §1.3)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

import jwt

from thingsboard_emulator.core.errors import TbError, unauthorized
from thingsboard_emulator.core.model import NULL_UUID, User

ISSUER = "thingsboard.io"
_PBKDF2_ROUNDS = 20_000  # cheap on purpose: an emulator for tests, not a vault


def hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), _PBKDF2_ROUNDS).hex()
    return f"{salt}${digest}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or "$" not in stored:
        return False
    salt, digest = stored.split("$", 1)
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), _PBKDF2_ROUNDS).hex()
    return hmac.compare_digest(candidate, digest)


class JwtService:
    def __init__(self, key: bytes, access_ttl_s: int, refresh_ttl_s: int) -> None:
        self.key = key
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def pair(self, user: User) -> dict[str, str]:
        session_id = str(uuid.uuid4())
        now = int(time.time())
        access: dict[str, Any] = {
            "sub": user.email,
            "userId": user.id,
            "scopes": [user.authority],
            "sessionId": session_id,
            "exp": now + self.access_ttl_s,
            "iss": ISSUER,
            "iat": now,
            "firstName": user.first_name,
            "lastName": user.last_name,
            "enabled": user.enabled,
            "isPublic": False,
            "tenantId": user.tenant_id or NULL_UUID,
            "customerId": user.customer_id or NULL_UUID,
        }
        refresh = {
            "sub": user.email,
            "userId": user.id,
            "scopes": ["REFRESH_TOKEN"],
            "sessionId": session_id,
            "isPublic": False,
            "jti": str(uuid.uuid4()),
            "exp": now + self.refresh_ttl_s,
            "iss": ISSUER,
            "iat": now,
        }
        return {
            "token": jwt.encode(access, self.key, algorithm="HS512"),
            "refreshToken": jwt.encode(refresh, self.key, algorithm="HS512"),
        }

    def decode(self, token: str) -> dict[str, Any]:
        """Claims of a valid token, else TB's 401 (with its quirks: a bad signature reads as "expired")."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.key, algorithms=["HS512"], options={"verify_iss": False}
            )
        except (jwt.ExpiredSignatureError, jwt.InvalidSignatureError) as exc:
            raise TbError(401, "Token has expired", 11) from exc
        except jwt.PyJWTError as exc:
            raise unauthorized("Invalid username or password") from exc
        return claims
