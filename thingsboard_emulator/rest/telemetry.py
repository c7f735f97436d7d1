"""``/api/plugins/telemetry/**`` (reference §6.1). Save errors are plain text, like TB's deferred results."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.contracts import AttributeScope, DeviceApiError, Principal
from thingsboard_emulator.core.errors import RawError, bad_request
from thingsboard_emulator.core.model import now_ms
from thingsboard_emulator.core.telemetry import AGGREGATIONS, SCOPES
from thingsboard_emulator.core.values import parse_attributes, parse_telemetry, to_str
from thingsboard_emulator.rest.common import (
    check_uuid,
    empty,
    json_response,
    keys_param,
    principal,
    query_bool,
    query_int,
)

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.core.service import Core

PREFIX = "/api/plugins/telemetry"


def _plain(status: int, message: str) -> RawError:
    return RawError(status, message.encode(), "text/plain")


def _value(value: Any, strict: bool) -> Any:  # noqa: FBT001
    return value if strict else to_str(value)


def handlers(core: Core) -> list[HTTPRouteHandler]:  # noqa: C901, PLR0915 - one closure per endpoint
    def entity(request: Request[Any, Any, Any], entity_type: str, entity_id: str) -> tuple[Principal, str]:
        p = principal(core, request)
        key = check_uuid(entity_id)
        core.check_entity(p, entity_type, key)
        return p, key

    async def body_json(request: Request[Any, Any, Any], error: str) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _plain(400, error) from exc

    def scope_of(scope: str, *, writable: bool) -> AttributeScope:
        allowed = ("SERVER_SCOPE", "SHARED_SCOPE") if writable else SCOPES
        if scope not in allowed:
            raise _plain(400, f"Invalid scope: {scope}")
        return scope

    async def save_attributes(
        request: Request[Any, Any, Any], entity_type: str, entity_id: str, scope: str
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        sc = scope_of(scope, writable=True)
        body = await body_json(request, "Invalid JSON")
        if not isinstance(body, dict):
            raise _plain(400, "Request is not a JSON object")
        try:
            values = parse_attributes(body)
        except DeviceApiError as exc:
            raise _plain(400, exc.message) from exc
        if not values:
            raise _plain(400, "No attributes data found in request body!")
        core.save_attributes(key, sc, values)
        return empty()

    # ThingsBoard serves the same save under its v2 path and the older v1 one.
    @post(
        [
            PREFIX + "/{entity_type:str}/{entity_id:str}/attributes/{attr_scope:str}",
            PREFIX + "/{entity_type:str}/{entity_id:str}/{attr_scope:str}",
        ]
    )
    async def save_entity_attributes(
        request: Request[Any, Any, Any],
        entity_type: FromPath[str],
        entity_id: FromPath[str],
        attr_scope: FromPath[str],
    ) -> Response[bytes]:
        return await save_attributes(request, entity_type, entity_id, attr_scope)

    @post(PREFIX + "/{device_id:str}/{attr_scope:str}")
    async def save_device_attributes(
        request: Request[Any, Any, Any], device_id: FromPath[str], attr_scope: FromPath[str]
    ) -> Response[bytes]:
        return await save_attributes(request, "DEVICE", device_id, attr_scope)

    async def save_timeseries(
        request: Request[Any, Any, Any], entity_type: str, entity_id: str
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        body = await body_json(request, "Unable to parse time series payload: Invalid JSON body!")
        try:
            entries = parse_telemetry(body, now_ms())
        except DeviceApiError as exc:
            raise _plain(400, "Unable to parse time series payload: Invalid JSON body!") from exc
        if not any(values for _, values in entries):
            raise _plain(400, "No time series data found in request body!")
        core.telemetry.save_timeseries(key, entries)
        return empty()

    @post(PREFIX + "/{entity_type:str}/{entity_id:str}/timeseries/{attr_scope:str}")
    async def save_ts(
        request: Request[Any, Any, Any],
        entity_type: FromPath[str],
        entity_id: FromPath[str],
        attr_scope: FromPath[str],
    ) -> Response[bytes]:
        return await save_timeseries(request, entity_type, entity_id)

    @post(PREFIX + "/{entity_type:str}/{entity_id:str}/timeseries/{attr_scope:str}/{ttl:str}")
    async def save_ts_ttl(
        request: Request[Any, Any, Any],
        entity_type: FromPath[str],
        entity_id: FromPath[str],
        attr_scope: FromPath[str],
        ttl: FromPath[str],
    ) -> Response[bytes]:
        return await save_timeseries(request, entity_type, entity_id)

    def history(request: Request[Any, Any, Any], key: str, keys: list[str] | None) -> Response[bytes]:
        strict = query_bool(request, "useStrictDataTypes", default=False)
        start_ts = query_int(request, "startTs")
        end_ts = query_int(request, "endTs")
        if start_ts is None or end_ts is None:
            raise bad_request(
                "Required request parameter 'startTs' for method parameter type Long is not present"
            )
        if not keys:
            return json_response({})
        limit = query_int(request, "limit", 100) or 100
        agg = (request.query_params.get("agg") or "NONE").upper()
        if agg not in AGGREGATIONS:
            raise bad_request(f"No enum constant org.thingsboard.server.common.data.kv.Aggregation.{agg}")
        interval = query_int(request, "interval", 0) or 0
        order = (request.query_params.get("orderBy") or "DESC").upper()
        data = core.telemetry.history(
            key, keys, start_ts, end_ts, limit=limit, agg=agg, interval=interval, order_desc=order != "ASC"
        )
        return json_response(
            {k: [{"ts": ts, "value": _value(v, strict)} for ts, v in points] for k, points in data.items()}
        )

    @get(PREFIX + "/{entity_type:str}/{entity_id:str}/values/timeseries")
    async def latest(
        request: Request[Any, Any, Any], entity_type: FromPath[str], entity_id: FromPath[str]
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        keys = keys_param(request.query_params.get("keys"))
        if request.query_params.get("startTs") is not None:
            return history(request, key, keys)
        strict = query_bool(request, "useStrictDataTypes", default=False)
        values = core.telemetry.latest(key, keys)
        out: dict[str, list[dict[str, Any]]] = {}
        now = now_ms()
        for k in keys if keys is not None else list(values):
            if k in values:
                ts, v = values[k]
                out[k] = [{"ts": ts, "value": _value(v, strict)}]
            else:
                out[k] = [{"ts": now, "value": None}]
        return json_response(out)

    @get(PREFIX + "/{entity_type:str}/{entity_id:str}/values/timeseries/history")
    async def history_endpoint(
        request: Request[Any, Any, Any], entity_type: FromPath[str], entity_id: FromPath[str]
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        return history(request, key, keys_param(request.query_params.get("keys")))

    @get(PREFIX + "/{entity_type:str}/{entity_id:str}/keys/timeseries")
    async def ts_keys(
        request: Request[Any, Any, Any], entity_type: FromPath[str], entity_id: FromPath[str]
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        return json_response(core.telemetry.timeseries_keys(key))

    @get(PREFIX + "/{entity_type:str}/{entity_id:str}/keys/attributes")
    async def attr_keys(
        request: Request[Any, Any, Any], entity_type: FromPath[str], entity_id: FromPath[str]
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        return json_response(core.telemetry.attribute_keys(key, None))

    @get(PREFIX + "/{entity_type:str}/{entity_id:str}/keys/attributes/{attr_scope:str}")
    async def attr_keys_scope(
        request: Request[Any, Any, Any],
        entity_type: FromPath[str],
        entity_id: FromPath[str],
        attr_scope: FromPath[str],
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        return json_response(core.telemetry.attribute_keys(key, scope_of(attr_scope, writable=False)))

    def attribute_rows(key: str, scope: AttributeScope | None, keys: list[str] | None) -> Response[bytes]:
        rows = core.telemetry.attributes_with_scope(key, scope, keys)
        return json_response([{"lastUpdateTs": ts, "key": k, "value": v} for _, k, ts, v in rows])

    @get(PREFIX + "/{entity_type:str}/{entity_id:str}/values/attributes")
    async def attrs(
        request: Request[Any, Any, Any], entity_type: FromPath[str], entity_id: FromPath[str]
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        return attribute_rows(key, None, keys_param(request.query_params.get("keys")))

    @get(PREFIX + "/{entity_type:str}/{entity_id:str}/values/attributes/{attr_scope:str}")
    async def attrs_scope(
        request: Request[Any, Any, Any],
        entity_type: FromPath[str],
        entity_id: FromPath[str],
        attr_scope: FromPath[str],
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        return attribute_rows(
            key, scope_of(attr_scope, writable=False), keys_param(request.query_params.get("keys"))
        )

    async def delete_attrs(
        request: Request[Any, Any, Any], entity_type: str, entity_id: str, scope: str
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        sc = scope_of(scope, writable=False)
        keys = keys_param(request.query_params.get("keys"))
        if not keys:
            raise _plain(400, f"Empty keys: {request.query_params.get('keys') or ''}")
        core.delete_attributes(key, sc, keys)
        return empty()

    @delete(PREFIX + "/{entity_type:str}/{entity_id:str}/{attr_scope:str}", status_code=200)
    async def delete_attributes(
        request: Request[Any, Any, Any],
        entity_type: FromPath[str],
        entity_id: FromPath[str],
        attr_scope: FromPath[str],
    ) -> Response[bytes]:
        return await delete_attrs(request, entity_type, entity_id, attr_scope)

    @delete(PREFIX + "/{device_id:str}/{attr_scope:str}", status_code=200)
    async def delete_device_attributes(
        request: Request[Any, Any, Any], device_id: FromPath[str], attr_scope: FromPath[str]
    ) -> Response[bytes]:
        return await delete_attrs(request, "DEVICE", device_id, attr_scope)

    @delete(PREFIX + "/{entity_type:str}/{entity_id:str}/timeseries/delete", status_code=200)
    async def delete_timeseries(
        request: Request[Any, Any, Any], entity_type: FromPath[str], entity_id: FromPath[str]
    ) -> Response[bytes]:
        _, key = entity(request, entity_type, entity_id)
        keys = keys_param(request.query_params.get("keys"))
        if not keys:
            raise _plain(400, f"Empty keys: {request.query_params.get('keys') or ''}")
        if query_bool(request, "deleteAllDataForKeys", default=False):
            start_ts, end_ts = -(2**62), 2**62
        else:
            start_ts = query_int(request, "startTs", 0) or 0
            end_ts = query_int(request, "endTs", now_ms()) or 0
        core.telemetry.delete_timeseries(key, keys, start_ts, end_ts)
        return empty()

    return [
        save_entity_attributes,
        save_device_attributes,
        save_ts,
        save_ts_ttl,
        latest,
        history_endpoint,
        ts_keys,
        attr_keys,
        attr_keys_scope,
        attrs,
        attrs_scope,
        delete_attributes,
        delete_device_attributes,
        delete_timeseries,
    ]
