"""Server-side RPC, v1 ``/api/plugins/rpc`` and v2 ``/api/rpc`` (reference §6.2)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.core.errors import RawError, bad_request, entity_not_found, forbidden
from thingsboard_emulator.core.model import now_ms
from thingsboard_emulator.core.persistent_rpc import PersistentRpc
from thingsboard_emulator.core.rpc import MIN_TIMEOUT_MS
from thingsboard_emulator.rest.common import check_uuid, empty, json_response, page, principal

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core


def handlers(core: Core) -> list[HTTPRouteHandler]:  # noqa: C901 - one closure per endpoint
    async def call(
        request: Request[Any, Any, Any], device_id: str, *, one_way: bool, v2: bool
    ) -> Response[bytes]:
        p = principal(core, request)
        if p.authority == "SYS_ADMIN":
            raise forbidden()
        key = check_uuid(device_id)
        core.check_entity(p, "DEVICE", key)
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise bad_request("Invalid request body") from exc
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            raise bad_request("Invalid request body")
        timeout = body.get("timeout")
        timeout_ms = (
            int(timeout)
            if isinstance(timeout, int | float) and timeout > 0
            else core.config.rpc_default_timeout_ms
        )
        timeout_ms = max(MIN_TIMEOUT_MS, timeout_ms)
        expiration = body.get("expirationTime")
        if isinstance(expiration, int | float) and expiration > 0:
            timeout_ms = max(0, int(expiration) - now_ms())
        if v2 and body.get("persistent") is True:
            record = core.persistent_rpc.submit(
                p.tenant_id, key, body, one_way=one_way, timeout_ms=timeout_ms
            )
            return json_response({"rpcId": record.id})
        outcome = await core.rpc.call(
            key, body["method"], body.get("params"), one_way=one_way, timeout_ms=timeout_ms
        )
        if outcome.status == "ok":
            return empty() if outcome.empty or one_way else json_response(outcome.payload)
        if outcome.status == "bad_reply":
            raise RawError(406, b"")
        if v2:
            raise RawError(504, b"")
        raise RawError(409 if outcome.status == "no_connection" else 408, b"")

    @post("/api/rpc/oneway/{device_id:str}")
    async def oneway_v2(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        return await call(request, device_id, one_way=True, v2=True)

    @post("/api/rpc/twoway/{device_id:str}")
    async def twoway_v2(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        return await call(request, device_id, one_way=False, v2=True)

    @post("/api/plugins/rpc/oneway/{device_id:str}")
    async def oneway_v1(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        return await call(request, device_id, one_way=True, v2=False)

    @post("/api/plugins/rpc/twoway/{device_id:str}")
    async def twoway_v1(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        return await call(request, device_id, one_way=False, v2=False)

    def persisted(request: Request[Any, Any, Any], rpc_id: str) -> PersistentRpc:
        p = principal(core, request)
        record = core.persistent_rpc.records.get(check_uuid(rpc_id))
        if record is None:
            raise entity_not_found("Rpc", rpc_id)
        core.check_entity(p, "DEVICE", record.device_id)
        return record

    @get("/api/rpc/persistent/{rpc_id:str}")
    async def get_persisted(request: Request[Any, Any, Any], rpc_id: FromPath[str]) -> Response[bytes]:
        return json_response(persisted(request, rpc_id).to_json())

    @delete("/api/rpc/persistent/{rpc_id:str}", status_code=200)
    async def delete_persisted(request: Request[Any, Any, Any], rpc_id: FromPath[str]) -> Response[bytes]:
        record = persisted(request, rpc_id)
        core.persistent_rpc.records.pop(record.id, None)
        return empty()

    @get("/api/rpc/persistent/device/{device_id:str}")
    async def device_persisted(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        key = check_uuid(device_id)
        core.check_entity(p, "DEVICE", key)
        status = request.query_params.get("rpcStatus")
        rows = [
            r
            for r in core.persistent_rpc.records.values()
            if r.device_id == key and (not status or r.status == status)
        ]
        sort = {
            "createdTime": lambda r: r.created_time,
            "expirationTime": lambda r: r.expiration_time,
            "status": lambda r: r.status,
        }
        return json_response(
            page(request, rows, text_of=lambda r: (r.status,), sort_keys=sort, render=PersistentRpc.to_json)
        )

    return [oneway_v2, twoway_v2, oneway_v1, twoway_v1, get_persisted, delete_persisted, device_persisted]
