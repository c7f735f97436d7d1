import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from petit.lib.schema import CamelModel
from petit.lib.text import CONTROL, WHITESPACE

# Deliberately loose: the only real proof of an address is a mail that arrives. This rejects obvious junk
# (and control characters, which would end up in logs and in ThingsBoard's customer titles). The OpenAPI
# document states the same rule (surrounding whitespace trimmed): what it allows is accepted.
_ATOM = rf"[^@.{WHITESPACE}{CONTROL}]+"
EMAIL_PATTERN = rf"^[{WHITESPACE}]*[^@{WHITESPACE}{CONTROL}]+@{_ATOM}(?:\.{_ATOM})+[{WHITESPACE}]*$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)
_MAX_EMAIL_LENGTH = 254


def normalize_email(value: str) -> str:
    if len(value) > _MAX_EMAIL_LENGTH or not _EMAIL_RE.fullmatch(value):
        raise ValueError("not a valid email address")
    return value.strip().lower()


Email = Annotated[
    str,
    # Examples inside json_schema_extra, not Field(examples=...): the alias is shared by many models and
    # Litestar extends a field's examples list in place, so each generated document would repeat them.
    Field(
        json_schema_extra={
            "maxLength": _MAX_EMAIL_LENGTH,
            "pattern": EMAIL_PATTERN,
            "examples": ["ada@example.com"],
        },
    ),
    AfterValidator(normalize_email),
]
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256


class SignupRequest(CamelModel):
    email: Email
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)

    @model_validator(mode="after")
    def _password_is_not_the_email(self) -> Self:
        if self.password.strip().lower() == self.email:
            raise ValueError("password must not be the email address")
        return self


class LoginRequest(CamelModel):
    email: Email
    # No minimum here: the policy may change, and a login must not reveal it. The maximum bounds hashing work.
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)


class RefreshRequest(CamelModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenPair(CamelModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Opaque; single use: each refresh returns a new one")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


class CompatCredentials(CamelModel):
    """The body of seed 003's ``POST /login``: both fields checked by the handler (400 when missing).

    The document states what a request must hold to be served (both fields, as strings, the address as
    :data:`Email` checks it); the model stays lenient so that a missing field answers seed 003's 400, not 422.
    """

    # Seed 003 clients may send more than these two fields; the original API ignored the rest, so does this.
    model_config = ConfigDict(extra="ignore", json_schema_extra={"required": ["email", "password"]})

    email: str | None = Field(
        default=None,
        json_schema_extra={
            "type": "string",
            "pattern": EMAIL_PATTERN,
            "maxLength": _MAX_EMAIL_LENGTH,
            "examples": ["ada@example.com"],
        },
    )
    password: str | None = Field(
        default=None,
        json_schema_extra={
            "type": "string",
            "minLength": 1,
            "maxLength": PASSWORD_MAX_LENGTH,
            "examples": ["correct horse battery"],
        },
    )


class CompatSignupCredentials(CompatCredentials):
    """The body of seed 003's ``POST /signup``: as the login's, with the signup's password policy."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"required": ["email", "password"]})

    password: str | None = Field(
        default=None,
        json_schema_extra={
            "type": "string",
            "minLength": PASSWORD_MIN_LENGTH,
            "maxLength": PASSWORD_MAX_LENGTH,
            "examples": ["correct horse battery"],
        },
    )


class CompatToken(TokenPair):
    token: str = Field(description="The access token again, under the name seed 003 clients read")
