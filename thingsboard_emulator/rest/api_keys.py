"""API keys: ``POST /api/apiKey`` (the value is returned once) and ``DELETE /api/apiKey/{id}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.rest.common import check_uuid, empty, json_object, json_response, principal

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core


def handlers(core: Core) -> list[HTTPRouteHandler]:
    @post("/api/apiKey")
    async def save_api_key(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        key = core.api_keys.save(p, await json_object(request))
        return json_response(key.to_json(with_value=True))

    @delete("/api/apiKey/{key_id:str}", status_code=200)
    async def delete_api_key(request: Request[Any, Any, Any], key_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        core.api_keys.delete(p, check_uuid(key_id))
        return empty()

    return [save_api_key, delete_api_key]
