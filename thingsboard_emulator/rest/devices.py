"""Devices, their credentials, customer assignment and claiming (reference §2.4, §3.3)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath  # noqa: TC002 - Litestar reads handler annotations at runtime

from thingsboard_emulator.core.errors import RawError, TbError, bad_request, forbidden, not_found
from thingsboard_emulator.core.model import Device
from thingsboard_emulator.rest.common import (
    check_uuid,
    empty,
    json_body,
    json_object,
    json_response,
    page,
    principal,
    query_bool,
    require,
)

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler

    from thingsboard_emulator.contracts import Principal
    from thingsboard_emulator.core.service import Core

_SORT = {
    "createdTime": lambda d: d.created_time,
    "name": lambda d: d.name,
    "label": lambda d: d.label,
    "type": lambda d: d.type,
    "deviceProfileName": lambda d: d.type,
}


def handlers(core: Core) -> list[HTTPRouteHandler]:  # noqa: C901, PLR0915 - one closure per endpoint
    def info(device: Device) -> dict[str, Any]:
        body = device.to_json()
        customer = core.customers.get(device.customer_id)
        profile = core.profiles.get(device.profile_id)
        body["customerTitle"] = customer.title if customer else None
        body["customerIsPublic"] = False
        body["deviceProfileName"] = profile.name if profile else device.type
        body["active"] = core.device_active(device.id)
        return body

    def device_page(request: Request[Any, Any, Any], rows: list[Device], render: Any) -> Response[bytes]:
        device_type = request.query_params.get("type")
        if device_type:
            rows = [d for d in rows if d.type == device_type]
        profile_id = request.query_params.get("deviceProfileId")
        if profile_id:
            rows = [d for d in rows if d.profile_id == profile_id]
        if request.query_params.get("active"):
            wanted = query_bool(request, "active", default=True)
            rows = [d for d in rows if core.device_active(d.id) == wanted]
        return json_response(
            page(request, rows, text_of=lambda d: (d.name, d.label), sort_keys=_SORT, render=render)
        )

    def tenant_device_by_name(p: Principal, request: Request[Any, Any, Any]) -> Device:
        device = core.device_by_name(p.tenant_id, request.query_params.get("deviceName") or "")
        if device is None:
            raise not_found()
        return device

    @post("/api/device")
    async def save_device(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        token = request.query_params.get("accessToken") or None
        return json_response(core.save_device(p, await json_object(request), token).to_json())

    @post("/api/device-with-credentials")
    async def save_device_with_credentials(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        body = await json_object(request)
        device, credentials = body.get("device"), body.get("credentials")
        if not isinstance(device, dict) or not isinstance(credentials, dict):
            raise bad_request("Invalid request body")
        return json_response(core.save_device(p, device, credentials=credentials).to_json())

    @get("/api/device/{device_id:str}")
    async def get_device(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        return json_response(core.check_entity(p, "DEVICE", check_uuid(device_id)).to_json())

    @get("/api/device/info/{device_id:str}")
    async def get_device_info(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        return json_response(info(core.check_entity(p, "DEVICE", check_uuid(device_id))))

    @delete("/api/device/{device_id:str}", status_code=200)
    async def delete_device(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        core.delete_device(p, check_uuid(device_id))
        return empty()

    @get("/api/tenant/device")
    async def device_by_name(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        return json_response(tenant_device_by_name(p, request).to_json())

    @get("/api/tenant/devices")
    async def tenant_devices(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        if request.query_params.get("deviceName") is not None:
            return json_response(tenant_device_by_name(p, request).to_json())
        rows = [d for d in core.devices.values() if d.tenant_id == p.tenant_id]
        return device_page(request, rows, Device.to_json)

    @get("/api/tenant/deviceInfos")
    async def tenant_device_infos(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        rows = [d for d in core.devices.values() if d.tenant_id == p.tenant_id]
        return device_page(request, rows, info)

    def customer_rows(p: Principal, customer_id: str) -> list[Device]:
        customer = core.check_entity(p, "CUSTOMER", check_uuid(customer_id))
        return [d for d in core.devices.values() if d.customer_id == customer.id]

    @get("/api/customer/{customer_id:str}/devices")
    async def customer_devices(
        request: Request[Any, Any, Any], customer_id: FromPath[str]
    ) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        return device_page(request, customer_rows(p, customer_id), Device.to_json)

    @get("/api/customer/{customer_id:str}/deviceInfos")
    async def customer_device_infos(
        request: Request[Any, Any, Any], customer_id: FromPath[str]
    ) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        return device_page(request, customer_rows(p, customer_id), info)

    @get("/api/devices")
    async def devices_by_ids(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        ids = [
            check_uuid(i.strip())
            for i in (request.query_params.get("deviceIds") or "").split(",")
            if i.strip()
        ]
        found = []
        for device_id in ids:
            try:
                found.append(core.check_entity(p, "DEVICE", device_id).to_json())
            except TbError:
                continue
        return json_response(found)

    @get("/api/device/types")
    async def device_types(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        types = sorted({d.type for d in core.devices.values() if d.tenant_id == p.tenant_id})
        return json_response(
            [
                {"tenantId": {"entityType": "TENANT", "id": p.tenant_id}, "entityType": "DEVICE", "type": t}
                for t in types
            ]
        )

    @post("/api/customer/{customer_id:str}/device/{device_id:str}")
    async def assign(
        request: Request[Any, Any, Any], customer_id: FromPath[str], device_id: FromPath[str]
    ) -> Response[bytes]:
        p = principal(core, request)
        return json_response(core.assign(p, check_uuid(customer_id), check_uuid(device_id)).to_json())

    @delete("/api/customer/device/{device_id:str}", status_code=200)
    async def unassign(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        return json_response(core.unassign(p, check_uuid(device_id)).to_json())

    @post("/api/owner/{owner_type:str}/{owner_id:str}/{entity_type:str}/{entity_id:str}")
    async def change_owner(
        request: Request[Any, Any, Any],
        owner_type: FromPath[str],
        owner_id: FromPath[str],
        entity_type: FromPath[str],
        entity_id: FromPath[str],
    ) -> Response[bytes]:
        # tb-rest-client 4.4 assigns through PE's owner API; CE has none, so it is aliased onto the CE paths.
        p = principal(core, request)
        if entity_type.upper() != "DEVICE":
            raise bad_request(f"Unsupported entity type: {entity_type}")
        if owner_type.upper() == "CUSTOMER":
            core.assign(p, check_uuid(owner_id), check_uuid(entity_id))
        elif owner_type.upper() == "TENANT":
            if check_uuid(owner_id) != p.tenant_id:
                raise forbidden()
            core.unassign(p, check_uuid(entity_id), strict=False)
        else:
            raise bad_request(f"Unsupported owner type: {owner_type}")
        return empty()

    @get("/api/device/{device_id:str}/credentials")
    async def get_credentials(request: Request[Any, Any, Any], device_id: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        device: Device = core.check_entity(p, "DEVICE", check_uuid(device_id))
        return json_response(core.credentials[device.id].to_json())

    @post("/api/device/credentials")
    async def update_credentials(request: Request[Any, Any, Any]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN")
        return json_response(core.update_credentials(p, await json_object(request)).to_json())

    @post("/api/customer/device/{device_name:str}/claim")
    async def claim(request: Request[Any, Any, Any], device_name: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "CUSTOMER_USER")
        body = await json_body(request, required=False)
        if body is None:
            raise TbError(
                500,
                'Cannot invoke "com.fasterxml.jackson.databind.JsonNode.get(String)" because '
                '"claimRequest" is null',
                2,
            )
        if not isinstance(body, dict):
            # Jackson cannot read a ClaimRequest from anything but an object.
            raise bad_request("Invalid request body")
        raw_secret = body.get("secretKey")
        secret = "" if raw_secret is None else str(raw_secret)
        device = core.device_by_name(p.tenant_id, device_name)
        if device is None:
            raise not_found()
        assert p.customer_id is not None
        # The outcome is a bare JSON string ("FAILURE"/"CLAIMED") with 400, not a TB error body.
        result = core.device_api.claim_by_customer(device, p.customer_id, secret)
        if result == "SUCCESS":
            return json_response({"device": device.to_json(), "response": "SUCCESS"})
        raise RawError(400, json.dumps(result).encode(), "application/json")

    @delete("/api/customer/device/{device_name:str}/claim", status_code=200)
    async def reclaim(request: Request[Any, Any, Any], device_name: FromPath[str]) -> Response[bytes]:
        p = principal(core, request)
        require(p, "TENANT_ADMIN", "CUSTOMER_USER")
        device = core.device_by_name(p.tenant_id, device_name)
        if device is None:
            raise not_found()
        core.device_api.reclaim(device)
        return empty()

    return [
        save_device,
        save_device_with_credentials,
        get_device,
        get_device_info,
        delete_device,
        device_by_name,
        tenant_devices,
        tenant_device_infos,
        customer_devices,
        customer_device_infos,
        devices_by_ids,
        device_types,
        assign,
        unassign,
        change_owner,
        get_credentials,
        update_credentials,
        claim,
        reclaim,
    ]
