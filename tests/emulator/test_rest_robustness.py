"""Bad input never crashes the emulator: garbage bodies, ids and parameters get TB's 4xx answers."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from thingsboard_emulator import Emulator

GARBAGE = [b"", b"{", b"[]", b"42", b'"str"', b"null", b'{"id": 5, "name": [1], "title": {}}', b"\xff\xfe"]
RANDOM_ID = str(uuid.uuid4())
PATHS = [
    ("POST", "/api/customer"),
    ("POST", "/api/user?sendActivationMail=false"),
    ("POST", "/api/device"),
    ("POST", "/api/device-with-credentials"),
    ("POST", "/api/device/credentials"),
    ("POST", "/api/deviceProfile"),
    ("POST", f"/api/plugins/telemetry/DEVICE/{RANDOM_ID}/timeseries/ANY"),
    ("POST", f"/api/plugins/telemetry/DEVICE/{RANDOM_ID}/attributes/SERVER_SCOPE"),
    ("POST", f"/api/plugins/telemetry/ASSET/{RANDOM_ID}/attributes/SERVER_SCOPE"),
    ("POST", f"/api/rpc/twoway/{RANDOM_ID}"),
    ("POST", f"/api/plugins/rpc/oneway/{RANDOM_ID}"),
    ("POST", "/api/customer/device/nope/claim"),
    ("POST", "/api/noauth/activate"),
    ("POST", "/api/auth/token"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/tenant/devices?pageSize=x&page=0"),
    ("GET", "/api/tenant/devices?pageSize=0&page=0"),
    ("GET", "/api/tenant/devices"),
    ("GET", f"/api/plugins/telemetry/DEVICE/{RANDOM_ID}/values/timeseries?keys=a"),
    ("GET", "/api/plugins/telemetry/DEVICE/bad/values/timeseries/history?keys=a&startTs=x&endTs=1"),
    ("GET", f"/api/customer/{RANDOM_ID}/devices?pageSize=1&page=0"),
    ("POST", f"/api/owner/WHAT/{RANDOM_ID}/DEVICE/{RANDOM_ID}"),
    ("DELETE", "/api/customer/device/not-a-uuid"),
]


@pytest.mark.parametrize("body", GARBAGE, ids=[repr(b)[:20] for b in GARBAGE])
async def test_garbage_is_refused_without_server_errors(
    emulator: Emulator, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        login = await client.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        headers = {"X-Authorization": f"Bearer {login.json()['token']}", "Content-Type": "application/json"}
        for method, path in PATHS:
            resp = await client.request(method, path, content=body, headers=headers)
            assert 400 <= resp.status_code < 500, (method, path, body, resp.status_code, resp.text)
        for path in ("/api/v1/nope/telemetry", "/api/v1/nope/attributes", "/api/v1/nope/claim"):
            resp = await client.post(path, content=body)
            assert resp.status_code == 401
        resp = await client.get("/__emulator/health")
        assert resp.status_code == 200
    assert not [r for r in caplog.records if r.getMessage() == "unhandled error"]


async def test_device_http_garbage(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        login = await client.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        headers = {"X-Authorization": f"Bearer {login.json()['token']}"}
        await client.post("/api/device?accessToken=garbage-tok", json={"name": "g"}, headers=headers)
        for body in GARBAGE:
            for path in ("telemetry", "attributes", "claim", "rpc/0"):
                resp = await client.post(f"/api/v1/garbage-tok/{path}", content=body)
                assert resp.status_code in (200, 400, 500), (path, body, resp.status_code)
        resp = await client.get("/api/v1/garbage-tok/rpc", params={"timeout": "abc"})
        assert resp.status_code == 400
        assert (await client.get("/__emulator/health")).status_code == 200
    assert not [r for r in caplog.records if r.getMessage() == "unhandled error"]


async def test_oversized_rest_body_is_413(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url, timeout=30) as client:
        login = await client.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        headers = {"X-Authorization": f"Bearer {login.json()['token']}"}
        device = (await client.post("/api/device", json={"name": "big"}, headers=headers)).json()
        big = b'{"k": "' + b"x" * (16 * 1024 * 1024) + b'"}'
        resp = await client.post(
            f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/timeseries/ANY", content=big, headers=headers
        )
        assert resp.status_code == 413
        assert resp.json()["errorCode"] == 31
        assert (await client.get("/__emulator/health")).status_code == 200


async def test_every_sort_property_sorts(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        login = await client.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        headers = {"X-Authorization": f"Bearer {login.json()['token']}"}
        await client.post("/api/device", json={"name": "b", "label": "x"}, headers=headers)
        await client.post("/api/device", json={"name": "a"}, headers=headers)
        await client.post("/api/deviceProfile", json={"name": "p2"}, headers=headers)
        checks = {
            "/api/tenant/devices": ["createdTime", "name", "label", "type", "deviceProfileName"],
            "/api/deviceProfiles": [
                "createdTime",
                "name",
                "type",
                "transportType",
                "description",
                "isDefault",
            ],
            "/api/customers": ["createdTime", "title", "email", "country", "city"],
            "/api/users": ["createdTime", "email", "firstName", "lastName"],
        }
        for path, props in checks.items():
            for prop in props:
                for order in ("ASC", "desc"):
                    resp = await client.get(
                        path,
                        params={"pageSize": 10, "page": 0, "sortProperty": prop, "sortOrder": order},
                        headers=headers,
                    )
                    assert resp.status_code == 200, (path, prop, resp.text)
        names = await client.get(
            "/api/tenant/devices",
            params={"pageSize": 10, "page": 0, "sortProperty": "label", "sortOrder": "ASC"},
            headers=headers,
        )
        assert [d["name"] for d in names.json()["data"]] == ["b", "a"]  # nulls last
