from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from petit.auth.deps import provide_access_claims
from petit.auth.errors import InvalidAccessTokenError, NotAuthenticatedError
from petit.errors import problem_responses
from petit.lib.security import AccessClaims
from petit.users.repositories import UserRepository
from petit.users.schemas import UserRead


class UserController(Controller):
    path = "/users"
    tags = ["Users"]  # noqa: RUF012 - Litestar reads controller configuration from class attributes
    dependencies = {  # noqa: RUF012
        "access_claims": Provide(provide_access_claims),
    }

    @get(
        "/me",
        operation_id="GetMe",
        summary="The signed-in user",
        security=[{"BearerAuth": []}],
        responses=problem_responses(NotAuthenticatedError, body=False),
    )
    async def get_me(
        self, access_claims: NamedDependency[AccessClaims], db_session: NamedDependency[AsyncSession]
    ) -> UserRead:
        user = await UserRepository(db_session).get(access_claims.user_id)
        if user is None:
            # The account was deleted after the token was issued.
            raise InvalidAccessTokenError
        return UserRead.model_validate(user, from_attributes=True)
