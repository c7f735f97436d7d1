"""Users: creation without activation mail, activation links, user tokens (reference §1.4, §1.5, §2.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.core.errors import TbError
from thingsboard_emulator.core.model import User, now_ms
from thingsboard_emulator.core.service import ACTIVATION_TTL_MS, Core
from thingsboard_emulator.rest.common import (
    check_uuid,
    empty,
    json_object,
    json_response,
    page,
    principal,
    query_bool,
    require,
    text,
)

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

_SORT = {
    "createdTime": lambda u: u.created_time,
    "email": lambda u: u.email,
    "firstName": lambda u: u.first_name,
    "lastName": lambda u: u.last_name,
}


def _base_url(request: Request[Any, Any, Any]) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def handlers(core: Core) -> list[HTTPRouteHandler]:  # noqa: C901, PLR0915 - one closure per endpoint
    @post("/api/user")
    async def save_user(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        send_mail = query_bool(request, "sendActivationMail", default=True)
        body = await json_object(request)
        user = core.save_user(p, body)
        if send_mail and not body.get("id"):
            # No mail server: TB deletes the user it just created and reports the mail failure.
            core.delete_user_unchecked(user)
            raise TbError(500, "Couldn't send user activation email", 2)
        return json_response(user.to_json())

    @get("/api/user/tokenAccessEnabled")
    async def token_access_enabled(request: Request[Any, Any, Any]) -> Response[bytes]:
        principal(core, request)
        return json_response(core.config.user_token_access_enabled)

    @get("/api/user/{user_id:str}")
    async def get_user(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        return json_response(core.check_entity(p, "USER", check_uuid(user_id)).to_json())

    @delete("/api/user/{user_id:str}", status_code=200)
    async def delete_user(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "SYS_ADMIN", "TENANT_ADMIN")
        core.delete_user(p, check_uuid(user_id))
        return empty()

    @get("/api/user/{user_id:str}/activationLink", media_type="text/plain")
    async def activation_link(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "SYS_ADMIN", "TENANT_ADMIN")
        token = core.activation_token(p, check_uuid(user_id))
        return text(f"{_base_url(request)}/api/noauth/activate?activateToken={token}")

    @get("/api/user/{user_id:str}/activationLinkInfo")
    async def activation_link_info(
        request: Request[Any, Any, Any], user_id: FromPath[str]
    ) -> Response[bytes]:
        p = principal(core, request)
        require(p, "SYS_ADMIN", "TENANT_ADMIN")
        user_key = check_uuid(user_id)
        token = core.activation_token(p, user_key)
        user: User = core.users[user_key]
        ttl = max(0, min(user.activate_token_exp_ms - now_ms(), ACTIVATION_TTL_MS))
        return json_response(
            {"value": f"{_base_url(request)}/api/noauth/activate?activateToken={token}", "ttlMs": ttl}
        )

    @get("/api/user/{user_id:str}/token")
    async def user_token(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        return json_response(core.user_token(p, check_uuid(user_id)))

    @post("/api/user/{user_id:str}/userCredentialsEnabled")
    async def credentials_enabled(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "SYS_ADMIN", "TENANT_ADMIN")
        enabled = query_bool(request, "userCredentialsEnabled", default=True)
        core.set_user_enabled(p, check_uuid(user_id), enabled=enabled)
        return empty()

    @get("/api/customer/{customer_id:str}/users")
    async def customer_users(request: Request[Any, Any, Any], customer_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        customer = core.check_entity(p, "CUSTOMER", check_uuid(customer_id))
        rows = [u for u in core.users.values() if u.customer_id == customer.id]
        return json_response(
            page(
                request,
                rows,
                text_of=lambda u: (u.email, u.first_name, u.last_name),
                sort_keys=_SORT,
                render=User.to_json,
            )
        )

    @get("/api/tenant/{tenant_id:str}/users")
    async def tenant_admins(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "SYS_ADMIN")
        key = check_uuid(tenant_id)
        rows = [u for u in core.users.values() if u.tenant_id == key and u.authority == "TENANT_ADMIN"]
        return json_response(
            page(request, rows, text_of=lambda u: (u.email,), sort_keys=_SORT, render=User.to_json)
        )

    @get("/api/users")
    async def list_users(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        if p.authority == "TENANT_ADMIN":
            rows = [u for u in core.users.values() if u.tenant_id == p.tenant_id]
        else:
            rows = [u for u in core.users.values() if u.customer_id == p.customer_id]
        return json_response(
            page(request, rows, text_of=lambda u: (u.email,), sort_keys=_SORT, render=User.to_json)
        )

    return [
        token_access_enabled,
        save_user,
        get_user,
        delete_user,
        activation_link,
        activation_link_info,
        user_token,
        credentials_enabled,
        customer_users,
        tenant_admins,
        list_users,
    ]
