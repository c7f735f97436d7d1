from __future__ import annotations

import pytest

from petit.lib.secrets import (
    CODE_ALPHABET,
    SecretHasher,
    derive_pepper,
    new_code,
    new_secret,
    normalize_code,
)

pytestmark = pytest.mark.unit


def test_secrets_carry_at_least_128_bits_and_differ() -> None:
    secrets = {new_secret() for _ in range(200)}
    assert len(secrets) == 200
    # token_urlsafe: 6 bits per character.
    assert all(len(s) * 6 >= 128 for s in secrets)


def test_codes_are_crockford_and_normalize_what_people_type() -> None:
    code = new_code()
    assert len(code) == 8
    assert set(code) <= set(CODE_ALPHABET)
    assert normalize_code(" ab0o-1il ") == "AB00111"


def test_digest_matches_only_the_same_secret_under_the_same_pepper() -> None:
    hasher = SecretHasher(derive_pepper("server-secret-one-that-is-long-enough"))
    other = SecretHasher(derive_pepper("server-secret-two-that-is-long-enough"))
    stored = hasher.digest("abc")
    assert stored != "abc"
    assert len(stored) == 64
    assert hasher.matches("abc", stored)
    assert not hasher.matches("abd", stored)
    assert not other.matches("abc", stored)
    assert hasher.code_matches("ab-cd efgh", hasher.code_digest("ABCDEFGH"))


def test_pepper_purposes_are_separate_and_short_peppers_refused() -> None:
    assert derive_pepper("x" * 40, "a") != derive_pepper("x" * 40, "b")
    with pytest.raises(ValueError, match="16 bytes"):
        SecretHasher(b"short")
