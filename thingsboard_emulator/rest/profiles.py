"""Device profiles (reference §2.5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.core.model import DeviceProfile
from thingsboard_emulator.rest.common import (
    check_uuid,
    empty,
    json_object,
    json_response,
    page,
    principal,
    require,
)

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core

_SORT = {
    "createdTime": lambda p: p.created_time,
    "name": lambda p: p.name,
    "type": lambda p: "DEFAULT",
    "transportType": lambda p: "DEFAULT",
    "description": lambda p: p.description,
    "isDefault": lambda p: p.is_default,
}


def handlers(core: Core) -> list[HTTPRouteHandler]:
    @get("/api/deviceProfileInfo/default")
    async def default_info(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        return json_response(core.default_profile(p.tenant_id).info_json())

    @get("/api/deviceProfileInfo/{profile_id:str}")
    async def profile_info(request: Request[Any, Any, Any], profile_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        return json_response(core.check_entity(p, "DEVICE_PROFILE", check_uuid(profile_id)).info_json())

    @get("/api/deviceProfile/{profile_id:str}")
    async def get_profile(request: Request[Any, Any, Any], profile_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        return json_response(core.check_entity(p, "DEVICE_PROFILE", check_uuid(profile_id)).to_json())

    @post("/api/deviceProfile")
    async def save_profile(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        return json_response(core.save_profile(p, await json_object(request)).to_json())

    @post("/api/deviceProfile/{profile_id:str}/default")
    async def set_default(request: Request[Any, Any, Any], profile_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        return json_response(core.set_default_profile(p, check_uuid(profile_id)).to_json())

    @delete("/api/deviceProfile/{profile_id:str}", status_code=200)
    async def delete_profile(request: Request[Any, Any, Any], profile_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        core.delete_profile(p, check_uuid(profile_id))
        return empty()

    @get("/api/deviceProfiles")
    async def list_profiles(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        rows = [x for x in core.profiles.values() if x.tenant_id == p.tenant_id]
        return json_response(
            page(request, rows, text_of=lambda x: (x.name,), sort_keys=_SORT, render=DeviceProfile.to_json)
        )

    @get("/api/deviceProfileInfos")
    async def list_profile_infos(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        rows = [x for x in core.profiles.values() if x.tenant_id == p.tenant_id]
        return json_response(
            page(request, rows, text_of=lambda x: (x.name,), sort_keys=_SORT, render=DeviceProfile.info_json)
        )

    return [
        default_info,
        profile_info,
        get_profile,
        save_profile,
        set_default,
        delete_profile,
        list_profiles,
        list_profile_infos,
    ]
