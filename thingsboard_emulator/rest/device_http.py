"""The HTTP device API under ``/api/v1`` (reference §5.3), including its long polls."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.contracts import DeviceApiError, DeviceRef, JsonValue, RpcRequest
from thingsboard_emulator.core.errors import RawError
from thingsboard_emulator.rest.common import empty, json_response, keys_param, query_int

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core

DEFAULT_TIMEOUT_MS = 60000
MAX_TIMEOUT_MS = 300000
RPC_MAX_BYTES = 65536
DEVICE_API_MAX_BYTES = 50 * 1024 * 1024  # TB: /api/v1/** = 50 MB


class _PollSession:
    """A ``DeviceSession`` that lives for one long-poll request."""

    def __init__(self) -> None:
        self.items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def deliver_rpc_request(self, request: RpcRequest) -> None:
        self.items.put_nowait(("rpc", request))

    def deliver_attribute_update(self, update: dict[str, JsonValue]) -> None:
        self.items.put_nowait(("attributes", update))

    def deliver_client_rpc_response(self, request_id: int, payload: JsonValue) -> None:
        self.items.put_nowait(("client_rpc", payload))

    def close(self, reason: str) -> None:
        self.items.put_nowait(("closed", reason))


def handlers(core: Core) -> list[HTTPRouteHandler]:  # noqa: C901, PLR0915 - one closure per endpoint
    api = core.device_api

    def device(token: str) -> DeviceRef:
        ref = api.authenticate(token)
        if ref is None:
            raise RawError(401, b"")
        return ref

    async def payload(request: Request[Any, Any, Any], *, limit: int | None = None) -> Any:
        raw = await request.body()
        if limit is not None and len(raw) > limit:
            raise RawError(413, b"Payload size exceeds the limit", "text/plain")
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            raise RawError(500, str(exc).encode(), "text/plain") from exc

    def apply(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except DeviceApiError as exc:
            if exc.kind == "unauthorized":
                raise RawError(401, b"") from exc
            if exc.kind == "too_large":
                raise RawError(413, exc.message.encode(), "text/plain") from exc
            raise RawError(400, exc.message.encode(), "text/plain") from exc

    def timeout_s(request: Request[Any, Any, Any]) -> float:
        value = query_int(request, "timeout", 0) or DEFAULT_TIMEOUT_MS
        return min(max(value, 1), MAX_TIMEOUT_MS) / 1000

    async def poll(ref: DeviceRef, kind: str, wait_s: float) -> Any:
        session = _PollSession()
        handle = api.open(ref, session, track_connect=False)
        try:
            if kind == "rpc":
                api.subscribe_rpc(handle)
            else:
                api.subscribe_attributes(handle)
            try:
                item_kind, item = await asyncio.wait_for(session.items.get(), wait_s)
            except TimeoutError:
                return None
            if item_kind == "closed":
                raise RawError(403, b"Device was deleted!", "text/plain")
            return item
        finally:
            api.close_session(handle)

    @post("/api/v1/{token:str}/telemetry", request_max_body_size=DEVICE_API_MAX_BYTES)
    async def telemetry(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        ref = device(token)
        apply(api.post_telemetry, ref, await payload(request))
        return empty()

    @post("/api/v1/{token:str}/attributes", request_max_body_size=DEVICE_API_MAX_BYTES)
    async def post_attributes(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        ref = device(token)
        apply(api.post_attributes, ref, await payload(request))
        return empty()

    @get("/api/v1/{token:str}/attributes")
    async def get_attributes(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        ref = device(token)
        client = keys_param(request.query_params.get("clientKeys"))
        shared = keys_param(request.query_params.get("sharedKeys"))
        return json_response(apply(api.request_attributes, ref, client, shared))

    @get("/api/v1/{token:str}/attributes/updates")
    async def attribute_updates(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        ref = device(token)
        update = await poll(ref, "attributes", timeout_s(request))
        if update is None:
            raise RawError(408, b"")
        return json_response(update)

    @get("/api/v1/{token:str}/rpc")
    async def rpc_poll(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        ref = device(token)
        rpc = await poll(ref, "rpc", timeout_s(request))
        if rpc is None:
            raise RawError(408, b"")
        assert isinstance(rpc, RpcRequest)
        return json_response({"id": rpc.request_id, "method": rpc.method, "params": rpc.params})

    @post("/api/v1/{token:str}/rpc/{request_id:str}")
    async def rpc_reply(
        request: Request[Any, Any, Any], token: FromPath[str], request_id: FromPath[str]
    ) -> Response[bytes]:
        ref = device(token)
        raw = await request.body()
        if len(raw) > RPC_MAX_BYTES:
            raise RawError(413, b"Payload size exceeds the limit", "text/plain")
        try:
            rid = int(request_id)
        except ValueError as exc:
            raise RawError(400, f"Invalid request id: {request_id}".encode(), "text/plain") from exc
        # Unparsed: the server-side caller gets 406 if the reply is not JSON.
        api.reply_to_rpc(ref, rid, bytes(raw))
        return empty()

    @post("/api/v1/{token:str}/rpc")
    async def client_rpc(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        ref = device(token)
        body = await payload(request, limit=RPC_MAX_BYTES)
        session = _PollSession()
        handle = api.open(ref, session, track_connect=False)
        try:
            apply(api.client_rpc, handle, 0, body)
            kind, item = await session.items.get()
            if kind == "closed":
                raise RawError(403, b"Device was deleted!", "text/plain")
            return json_response(item)
        finally:
            api.close_session(handle)

    @post("/api/v1/{token:str}/claim")
    async def claim(request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        ref = device(token)
        apply(api.claim, ref, await payload(request))
        return empty()

    @post("/api/v1/provision")
    async def provision(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = await payload(request)
        try:
            return json_response(api.provision(body))
        except DeviceApiError as exc:
            raise RawError(500, exc.message.encode(), "text/plain") from exc

    return [
        telemetry,
        post_attributes,
        get_attributes,
        attribute_updates,
        rpc_poll,
        rpc_reply,
        client_rpc,
        claim,
        provision,
    ]
