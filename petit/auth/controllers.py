from __future__ import annotations

from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from petit.auth import errors
from petit.auth.deps import client_ip, provide_access_claims, provide_auth_service
from petit.auth.schemas import LoginRequest, RefreshRequest, SignupRequest, TokenPair
from petit.auth.services import AuthService
from petit.errors import problem_responses
from petit.lib.security import AccessClaims
from petit.settings import Settings
from petit.users.schemas import UserRead

BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]


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
