"""Device activity (§6.3) and provisioning over the HTTP device API (§4)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable


async def _headers(client: httpx.AsyncClient) -> dict[str, str]:
    resp = await client.post(
        "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
    )
    return {"X-Authorization": f"Bearer {resp.json()['token']}"}


async def _server_attrs(client: httpx.AsyncClient, headers: dict[str, str], device_id: str) -> dict[str, Any]:
    resp = await client.get(
        f"/api/plugins/telemetry/DEVICE/{device_id}/values/attributes/SERVER_SCOPE", headers=headers
    )
    return {a["key"]: a["value"] for a in resp.json()}


async def _poll(check: Callable[[], Any], deadline_s: float = 5.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_activity_flips_and_times_out() -> None:
    async with Emulator(inactivity_timeout_s=0.5) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _headers(client)
        device = (
            await client.post("/api/device?accessToken=act-tok", json={"name": "a"}, headers=headers)
        ).json()
        device_id = device["id"]["id"]
        assert "active" not in await _server_attrs(client, headers, device_id)
        before = int(time.time() * 1000)
        await client.post("/api/v1/act-tok/telemetry", json={"t": 1})
        attrs = await _server_attrs(client, headers, device_id)
        assert attrs["active"] is True
        assert attrs["lastActivityTime"] >= before
        info = (await client.get(f"/api/device/info/{device_id}", headers=headers)).json()
        assert info["active"] is True
        active_page = (
            await client.get("/api/tenant/deviceInfos?pageSize=10&page=0&active=true", headers=headers)
        ).json()
        assert [d["name"] for d in active_page["data"]] == ["a"]

        async def inactive() -> bool:
            return (await _server_attrs(client, headers, device_id)).get("active") is False

        await _poll(inactive)
        assert (await client.get(f"/api/device/info/{device_id}", headers=headers)).json()["active"] is False


async def test_per_device_inactivity_override() -> None:
    async with Emulator(inactivity_timeout_s=600) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _headers(client)
        device = (
            await client.post("/api/device?accessToken=ovr-tok", json={"name": "o"}, headers=headers)
        ).json()
        device_id = device["id"]["id"]
        await client.post(
            f"/api/plugins/telemetry/DEVICE/{device_id}/SERVER_SCOPE",
            json={"inactivityTimeout": 200},
            headers=headers,
        )
        await client.post("/api/v1/ovr-tok/telemetry", json={"t": 1})
        assert emu.core.device_active(device_id)
        # The loop checks once a second at the most with a 600 s default; run the check the way the loop does.
        await _poll(lambda: _checked_inactive(emu, device_id))


async def _checked_inactive(emu: Emulator, device_id: str) -> bool:
    emu.core.check_inactivity()
    return not emu.core.device_active(device_id)


async def _profile(
    client: httpx.AsyncClient, headers: dict[str, str], strategy: str, key: str
) -> dict[str, Any]:
    body = {
        "name": f"p-{key}",
        "provisionDeviceKey": key,
        "provisionType": strategy,
        "profileData": {
            "provisionConfiguration": {"type": strategy, "provisionDeviceSecret": f"{key}-secret"}
        },
    }
    resp = await client.post("/api/deviceProfile", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_provision_allow_create_new_devices(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        headers = await _headers(client)
        profile = await _profile(client, headers, "ALLOW_CREATE_NEW_DEVICES", "k-new")
        request = {
            "deviceName": "prov-1",
            "provisionDeviceKey": "k-new",
            "provisionDeviceSecret": "k-new-secret",
        }
        resp = await client.post("/api/v1/provision", json=request)
        assert resp.status_code == 200
        body = resp.json()
        assert body["status"] == "SUCCESS"
        assert body["credentialsType"] == "ACCESS_TOKEN"
        token = body["credentialsValue"]
        assert (await client.post(f"/api/v1/{token}/telemetry", json={"t": 1})).status_code == 200
        device = (await client.get("/api/tenant/device?deviceName=prov-1", headers=headers)).json()
        assert device["deviceProfileId"]["id"] == profile["id"]["id"]
        assert (await _server_attrs(client, headers, device["id"]["id"]))["provisionState"] == "provisioned"
        again = (await client.post("/api/v1/provision", json=request)).json()
        assert again == {"errorMsg": "Failed to provision device!", "status": "FAILURE"}
        own_token = {**request, "deviceName": "prov-2", "token": "my-own-token"}
        assert (await client.post("/api/v1/provision", json=own_token)).json()[
            "credentialsValue"
        ] == "my-own-token"


async def test_provision_check_pre_provisioned(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        headers = await _headers(client)
        profile = await _profile(client, headers, "CHECK_PRE_PROVISIONED_DEVICES", "k-pre")
        await client.post(
            "/api/device?accessToken=pre-tok",
            json={"name": "pre-1", "deviceProfileId": profile["id"]},
            headers=headers,
        )
        request = {
            "deviceName": "pre-1",
            "provisionDeviceKey": "k-pre",
            "provisionDeviceSecret": "k-pre-secret",
            "token": "ignored",
        }
        body = (await client.post("/api/v1/provision", json=request)).json()
        assert body == {"credentialsValue": "pre-tok", "credentialsType": "ACCESS_TOKEN", "status": "SUCCESS"}
        assert (await client.post("/api/v1/provision", json=request)).json()["status"] == "FAILURE"
        unknown = {**request, "deviceName": "pre-unknown"}
        assert (await client.post("/api/v1/provision", json=unknown)).json()["status"] == "FAILURE"


@pytest.mark.parametrize(
    ("request_body", "status"),
    [
        ({"deviceName": "x", "provisionDeviceKey": "nope", "provisionDeviceSecret": "s"}, "NOT_FOUND"),
        ({"deviceName": "x", "provisionDeviceKey": "k-dis", "provisionDeviceSecret": "wrong"}, "NOT_FOUND"),
        ({"deviceName": "x", "provisionDeviceKey": "", "provisionDeviceSecret": ""}, "NOT_FOUND"),
        (
            {"deviceName": "   ", "provisionDeviceKey": "k-dis", "provisionDeviceSecret": "k-dis-secret"},
            "FAILURE",
        ),
    ],
)
async def test_provision_not_found_and_failure(
    emulator: Emulator, request_body: dict[str, str], status: str
) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        headers = await _headers(client)
        await _profile(client, headers, "ALLOW_CREATE_NEW_DEVICES", "k-dis")
        resp = await client.post("/api/v1/provision", json=request_body)
        assert resp.status_code == 200
        assert resp.json()["status"] == status


async def test_provision_disabled_profile_and_bad_requests(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        missing_secret = await client.post("/api/v1/provision", json={"provisionDeviceKey": "k"})
        assert missing_secret.status_code == 500
        assert (await client.post("/api/v1/provision", content=b"{nope")).status_code == 500
