"""Tenants (sysadmin only): enough to test isolation between tenants."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.rest.common import check_uuid, json_object, json_response, principal, require

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core


def handlers(core: Core) -> list[HTTPRouteHandler]:
    @post("/api/tenant")
    async def save_tenant(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        return json_response(core.save_tenant(p, await json_object(request)).to_json())

    @get("/api/tenant/{tenant_id:str}")
    async def get_tenant(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "SYS_ADMIN", "TENANT_ADMIN")
        return json_response(core.check_entity(p, "TENANT", check_uuid(tenant_id)).to_json())

    return [save_tenant, get_tenant]
