from __future__ import annotations

import pytest
from pydantic import ValidationError

from petit.auth.schemas import LoginRequest, SignupRequest, normalize_email

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("  Ada@Example.COM ", "ada@example.com"), ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org")],
)
def test_emails_are_trimmed_and_lowercased(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized
    assert SignupRequest(email=raw, password="0123456789").email == normalized


@pytest.mark.parametrize("raw", ["", "plain", "a@b", "a@@b.com", "a b@c.com", "a@b..com", "@b.com", "a@.com"])
def test_malformed_emails(raw: str) -> None:
    with pytest.raises(ValueError, match="email"):
        normalize_email(raw)


def test_overlong_email() -> None:
    with pytest.raises(ValueError, match="email"):
        normalize_email("a" * 250 + "@example.com")


@pytest.mark.parametrize("password", ["x" * 9, "x" * 257])
def test_password_length(password: str) -> None:
    with pytest.raises(ValidationError):
        SignupRequest(email="ada@example.com", password=password)


def test_password_equal_to_email_is_refused() -> None:
    with pytest.raises(ValidationError, match="email"):
        SignupRequest(email="Ada.Lovelace@Example.com", password=" ada.lovelace@example.COM")


def test_camel_case_wire_names_and_no_extra_fields() -> None:
    with pytest.raises(ValidationError):
        LoginRequest.model_validate({"email": "ada@example.com", "password": "x", "admin": True})
