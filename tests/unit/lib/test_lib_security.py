from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from petit.lib.security import (
    AccessTokenCodec,
    ExpiredTokenError,
    InvalidTokenError,
    PasswordHasher,
    hash_refresh_token,
    new_refresh_token,
)

pytestmark = pytest.mark.unit

SECRET = "unit-test-secret-that-is-long-enough-123"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def codec(secret: str = SECRET) -> AccessTokenCodec:
    return AccessTokenCodec(secret=secret, issuer="petit", ttl=timedelta(minutes=15))


def test_argon2id_hash_and_verify() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=1024, parallelism=1)
    stored = hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert hasher.verify("correct horse battery", stored) == (True, None)
    assert hasher.verify("wrong horse battery", stored) == (False, None)


def test_verify_asks_for_a_rehash_when_parameters_change() -> None:
    old = PasswordHasher(time_cost=1, memory_cost_kib=1024, parallelism=1).hash("pw-0123456789")
    stronger = PasswordHasher(time_cost=2, memory_cost_kib=2048, parallelism=1)
    ok, new_hash = stronger.verify("pw-0123456789", old)
    assert ok
    assert new_hash is not None
    assert "m=2048,t=2" in new_hash
    assert stronger.verify("pw-0123456789", new_hash) == (True, None)


def test_burn_runs_a_verification() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=1024, parallelism=1)
    hasher.burn("anything")  # must not raise, and builds its dummy hash once
    hasher.burn("anything else")


def test_access_token_round_trip() -> None:
    user_id, family_id = uuid.uuid4(), uuid.uuid4()
    token, issued = codec().encode(user_id=user_id, family_id=family_id, now=NOW)
    claims = codec().decode(token, now=NOW + timedelta(minutes=14))
    assert claims == issued
    assert claims.user_id == user_id
    assert claims.family_id == family_id
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False}, issuer="petit")
    assert payload["typ"] == "access"
    assert payload["exp"] - payload["iat"] == 900


def test_expired_token() -> None:
    token, _ = codec().encode(user_id=uuid.uuid4(), family_id=uuid.uuid4(), now=NOW)
    with pytest.raises(ExpiredTokenError):
        codec().decode(token, now=NOW + timedelta(minutes=15))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: ".".join([t.split(".")[0], t.split(".")[1][::-1], t.split(".")[2]]),  # payload
        lambda t: "garbage",
        lambda t: "",
    ],
)
def test_tampered_token(mutate: object) -> None:
    token, _ = codec().encode(user_id=uuid.uuid4(), family_id=uuid.uuid4(), now=NOW)
    with pytest.raises(InvalidTokenError):
        codec().decode(mutate(token), now=NOW)  # type: ignore[operator]


def test_token_signed_with_another_key_or_algorithm_is_refused() -> None:
    token, _ = codec("another-secret-that-is-long-enough-456").encode(
        user_id=uuid.uuid4(), family_id=uuid.uuid4(), now=NOW
    )
    with pytest.raises(InvalidTokenError):
        codec().decode(token, now=NOW)
    unsigned = jwt.encode({"sub": str(uuid.uuid4()), "typ": "access"}, key=None, algorithm="none")
    with pytest.raises(InvalidTokenError):
        codec().decode(unsigned, now=NOW)


def test_token_of_another_type_is_refused() -> None:
    payload = {
        "iss": "petit",
        "sub": str(uuid.uuid4()),
        "jti": "x",
        "fid": str(uuid.uuid4()),
        "typ": "refresh",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
    }
    with pytest.raises(InvalidTokenError, match="not an access token"):
        codec().decode(jwt.encode(payload, SECRET, algorithm="HS256"), now=NOW)


def test_refresh_tokens_are_random_and_hashed() -> None:
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(token) >= 43  # 32 bytes of entropy in base64url
    digest = hash_refresh_token(token)
    assert len(digest) == 64
    assert token not in digest
    assert hash_refresh_token(token) == digest
