from __future__ import annotations

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from petit.auth.errors import InvalidAccessTokenError, NotAuthenticatedError
from petit.auth.repositories import RefreshTokenRepository
from petit.auth.services import AuthService
from petit.db.models import User
from petit.lib.security import AccessClaims
from petit.runtime import Runtime
from petit.settings import Settings
from petit.users.linking import PlatformLinker
from petit.users.repositories import UserRepository


async def provide_auth_service(
    runtime: NamedDependency[SkipValidation[Runtime]], db_session: NamedDependency[AsyncSession]
) -> AuthService:
    settings = runtime.settings
    return AuthService(
        users=UserRepository(db_session),
        refresh_tokens=RefreshTokenRepository(db_session),
        hasher=runtime.password_hasher,
        codec=runtime.token_codec,
        cache=runtime.cache,
        clock=runtime.clock,
        settings=settings.auth,
        verifier=runtime.token_verifier,
        # Signing up works without ThingsBoard: the link is made later by the background task.
        linker=PlatformLinker(runtime.thingsboard, runtime.clock)
        if runtime.thingsboard is not None
        else None,
        link_timeout_s=settings.thingsboard.request_timeout_s,
    )


async def provide_access_claims(
    request: Request[object, object, State], runtime: NamedDependency[SkipValidation[Runtime]]
) -> AccessClaims:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticatedError
    return await runtime.token_verifier.verify(token.strip())


def client_ip(request: Request[object, object, State], settings: Settings) -> str:
    header = settings.app.client_ip_header
    if header and (value := request.headers.get(header)):
        # The load balancer appends the address it saw; anything left of it is client-supplied and forgeable.
        return value.split(",")[-1].strip()
    return request.client.host if request.client else "unknown"


async def current_user(session: AsyncSession, claims: AccessClaims) -> User:
    """The token's account; a token that outlived its account (deleted since) is refused like a bad one."""
    user = await UserRepository(session).get(claims.user_id)
    if user is None:
        raise InvalidAccessTokenError
    return user
