"""Access tokens verified once per process: a remembered token is still checked for expiry every time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from petit.lib.security import AccessTokenCodec, ExpiredTokenError, InvalidTokenError

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def codec() -> AccessTokenCodec:
    return AccessTokenCodec(
        secret="unit-test-secret-that-is-long-enough-456", issuer="petit", ttl=timedelta(minutes=15)
    )


def test_a_remembered_token_still_expires() -> None:
    tokens = codec()
    token, issued = tokens.encode(user_id=uuid.uuid4(), family_id=uuid.uuid4(), now=NOW)
    assert tokens.decode(token, now=NOW) == issued
    assert tokens.decode(token, now=NOW + timedelta(minutes=14)) == issued
    with pytest.raises(ExpiredTokenError):
        tokens.decode(token, now=NOW + timedelta(minutes=15))
    with pytest.raises(ExpiredTokenError):
        tokens.decode(token, now=NOW + timedelta(minutes=16))


def test_a_remembered_token_does_not_vouch_for_an_altered_one() -> None:
    tokens = codec()
    token, _ = tokens.encode(user_id=uuid.uuid4(), family_id=uuid.uuid4(), now=NOW)
    tokens.decode(token, now=NOW)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidTokenError):
        tokens.decode(altered, now=NOW)
    assert tokens.decode(token, now=NOW).jti


def test_another_codec_does_not_share_what_this_one_verified() -> None:
    token, _ = codec().encode(user_id=uuid.uuid4(), family_id=uuid.uuid4(), now=NOW)
    other = AccessTokenCodec(
        secret="another-secret-that-is-long-enough-789", issuer="petit", ttl=timedelta(1)
    )
    with pytest.raises(InvalidTokenError):
        other.decode(token, now=NOW)
