from __future__ import annotations

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import Provide

from petit.auth.deps import current_user, provide_access_claims
from petit.auth.errors import NotAuthenticatedError
from petit.errors import problem_responses
from petit.runtime import runtime_of
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
    async def get_me(self, request: Request[object, object, State]) -> UserRead:
        # No injected dependencies (each batch costs a task group): authenticate, then one read-only unit of
        # work for the one query.
        runtime = runtime_of(request.app)
        access_claims = await provide_access_claims(request, runtime)
        async with runtime.read_sessionmaker() as session:
            user = await current_user(session, access_claims)
        return UserRead.model_validate(user, from_attributes=True)
