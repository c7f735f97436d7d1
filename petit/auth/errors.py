from __future__ import annotations

from typing import ClassVar

from petit.errors import PetitError


class EmailTakenError(PetitError):
    code = "email_taken"
    status = 409
    title = "An account with this email already exists"


class InvalidCredentialsError(PetitError):
    # One error for "no such account" and "wrong password": telling them apart would enumerate users.
    code = "invalid_credentials"
    status = 401
    title = "Email or password is incorrect"


class LoginThrottledError(PetitError):
    code = "login_throttled"
    status = 429
    title = "Too many login attempts; retry later"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Retry in {retry_after_s} seconds", headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class NotAuthenticatedError(PetitError):
    code = "not_authenticated"
    status = 401
    title = "A bearer access token is required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidAccessTokenError(NotAuthenticatedError):
    code = "invalid_token"
    title = "The access token is invalid"


class ExpiredAccessTokenError(NotAuthenticatedError):
    code = "token_expired"
    title = "The access token has expired"


class RevokedAccessTokenError(NotAuthenticatedError):
    code = "token_revoked"
    title = "The access token has been revoked"


class InvalidRefreshTokenError(PetitError):
    code = "invalid_refresh_token"
    status = 401
    title = "The refresh token is invalid, expired or revoked"


class RefreshTokenReusedError(PetitError):
    code = "refresh_token_reused"
    status = 401
    title = "The refresh token was already used; its session has been revoked"
    keeps_changes: ClassVar[bool] = True


class MissingCredentialsError(PetitError):
    # Only the seed 003 compatibility routes raise it: the original API answered 400 for a missing field.
    code = "missing_credentials"
    status = 400
    title = "Email and password are required"
