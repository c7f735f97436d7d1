"""Accounts: ``/auth/*``, and seed 003's ``POST /signup`` and ``POST /login`` kept for its clients.

The compatibility routes run the same service as ``/auth/signup`` and ``/auth/login`` and differ only where
seed 003 said otherwise: a missing email or password is a 400 rather than a validation failure, a login
answers with a ``token`` field (the access token) beside the usual pair, and a login with an address that
cannot be an email is simply wrong credentials (401). What seed 003 left open (password policy, throttling)
is petit's.
"""

from __future__ import annotations

from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from pydantic import ValidationError

from petit.auth import errors
from petit.auth.deps import client_ip, provide_access_claims, provide_auth_service
from petit.auth.schemas import (
    CompatCredentials,
    CompatSignupCredentials,
    CompatToken,
    LoginRequest,
    RefreshRequest,
    SignupRequest,
    TokenPair,
)
from petit.auth.services import AuthService
from petit.errors import problem_responses
from petit.lib.security import AccessClaims
from petit.settings import Settings
from petit.users.schemas import UserRead

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]

#: Not declared among the document's top-level tags on purpose: Swagger UI would list declared tags first,
#: putting the legacy routes above the ones a newcomer should use.
COMPAT_TAG = "Compatibility"


class AuthController(Controller):
    path = "/auth"
    tags = ["Auth"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "auth_service": Provide(provide_auth_service),
        "access_claims": Provide(provide_access_claims),
    }

    @post(
        "/signup",
        operation_id="Signup",
        summary="Create an account",
        status_code=HTTP_201_CREATED,
        responses=problem_responses(errors.EmailTakenError),
    )
    async def signup(
        self, data: JSONBody[SignupRequest], auth_service: NamedDependency[AuthService]
    ) -> UserRead:
        user = await auth_service.signup(data.email, data.password)
        return UserRead.model_validate(user, from_attributes=True)

    @post(
        "/login",
        operation_id="Login",
        summary="Exchange email and password for tokens",
        status_code=HTTP_200_OK,
        responses=problem_responses(errors.InvalidCredentialsError, errors.LoginThrottledError),
    )
    async def login(
        self,
        request: Request[object, object, State],
        data: JSONBody[LoginRequest],
        auth_service: NamedDependency[AuthService],
        settings: NamedDependency[Settings],
    ) -> TokenPair:
        return await auth_service.login(data.email, data.password, client_ip=client_ip(request, settings))

    @post(
        "/refresh",
        operation_id="RefreshToken",
        summary="Rotate a refresh token into a new token pair",
        status_code=HTTP_200_OK,
        responses=problem_responses(errors.InvalidRefreshTokenError, errors.RefreshTokenReusedError),
    )
    async def refresh(
        self, data: JSONBody[RefreshRequest], auth_service: NamedDependency[AuthService]
    ) -> TokenPair:
        return await auth_service.refresh(data.refresh_token)

    @post(
        "/logout",
        operation_id="Logout",
        summary="Revoke the current access token and its session",
        status_code=HTTP_204_NO_CONTENT,
        security=BEARER,
        responses=problem_responses(errors.NotAuthenticatedError, body=False),
    )
    async def logout(
        self, access_claims: NamedDependency[AccessClaims], auth_service: NamedDependency[AuthService]
    ) -> None:
        await auth_service.logout(access_claims)


def _required(data: CompatCredentials) -> tuple[str, str]:
    # The original treated an empty string as missing, and so do clients that relied on its 400.
    if not data.email or not data.email.strip() or not data.password:
        raise errors.MissingCredentialsError
    return data.email, data.password


def _validation_failed(exc: ValidationError) -> ValidationException:
    # Raised as Litestar's own validation failure so petit/errors.py renders it like any other body error.
    fields = [
        {"key": ".".join(str(part) for part in error["loc"]) or "body", "message": error["msg"]}
        for error in exc.errors()
    ]
    return ValidationException(extra=fields)


class AuthCompatController(Controller):
    path = "/"
    tags = [COMPAT_TAG]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {"auth_service": Provide(provide_auth_service)}  # noqa: RUF012

    @post(
        "/signup",
        operation_id="SignupCompat",
        summary="Create an account (seed 003 compatibility route)",
        description=(
            "Same as POST /auth/signup, except that a missing or empty email or password answers 400 "
            "(missing_credentials) as in the original API. Prefer /auth/signup in new clients."
        ),
        status_code=HTTP_201_CREATED,
        responses=problem_responses(errors.MissingCredentialsError, errors.EmailTakenError),
    )
    async def signup(
        self, data: JSONBody[CompatSignupCredentials], auth_service: NamedDependency[AuthService]
    ) -> UserRead:
        email, password = _required(data)
        try:
            checked = SignupRequest(email=email, password=password)
        except ValidationError as exc:
            raise _validation_failed(exc) from None
        user = await auth_service.signup(checked.email, checked.password)
        return UserRead.model_validate(user, from_attributes=True)

    @post(
        "/login",
        operation_id="LoginCompat",
        summary="Exchange email and password for tokens (seed 003 compatibility route)",
        description=(
            "Same as POST /auth/login, except that a missing or empty email or password answers 400 "
            "(missing_credentials) and the response also carries the access token as `token`, as in the "
            "original API. That token opens the device stream at the server root (ws://host:port, seed 003's "
            "URL) as well as at /ws. Prefer /auth/login in new clients."
        ),
        status_code=HTTP_200_OK,
        responses=problem_responses(
            errors.MissingCredentialsError, errors.InvalidCredentialsError, errors.LoginThrottledError
        ),
    )
    async def login(
        self,
        request: Request[object, object, State],
        data: JSONBody[CompatCredentials],
        auth_service: NamedDependency[AuthService],
        settings: NamedDependency[Settings],
    ) -> CompatToken:
        email, password = _required(data)
        try:
            credentials = LoginRequest(email=email, password=password)
        except ValidationError:
            # No account can have this address (or a password this long): wrong credentials, nothing more.
            raise errors.InvalidCredentialsError from None
        pair = await auth_service.login(
            credentials.email, credentials.password, client_ip=client_ip(request, settings)
        )
        return CompatToken(**pair.model_dump(), token=pair.access_token)
