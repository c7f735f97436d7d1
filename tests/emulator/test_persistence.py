"""``data_file``: entities, credentials, users, attributes and telemetry survive a restart."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from pathlib import Path


async def _token(
    client: httpx.AsyncClient, user: str = "tenant@thingsboard.org", password: str = "tenant"
) -> dict[str, str]:
    resp = await client.post("/api/auth/login", json={"username": user, "password": password})
    assert resp.status_code == 200
    return {"X-Authorization": f"Bearer {resp.json()['token']}"}


async def test_state_survives_restart(tmp_path: Path) -> None:
    data = str(tmp_path / "tb.sqlite")
    async with Emulator(data_file=data) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _token(client)
        customer = (await client.post("/api/customer", json={"title": "Acme"}, headers=headers)).json()
        device = (
            await client.post("/api/device?accessToken=persist-tok", json={"name": "d1"}, headers=headers)
        ).json()
        await client.post(
            f"/api/customer/{customer['id']['id']}/device/{device['id']['id']}", headers=headers
        )
        assert (
            await client.post(
                "/api/v1/persist-tok/telemetry", json={"ts": 1_700_000_000_000, "values": {"t": 21.5}}
            )
        ).status_code == 200
        await client.post("/api/v1/persist-tok/attributes", json={"fw": "v1"})
        await client.post(
            f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/attributes/SHARED_SCOPE",
            json={"led": True},
            headers=headers,
        )
        old_token = headers
    async with Emulator(data_file=data) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        # Tokens signed before the restart stay valid: the signing key is persisted too.
        me = await client.get("/api/auth/user", headers=old_token)
        assert me.status_code == 200
        headers = await _token(client)
        found = (await client.get("/api/tenant/device?deviceName=d1", headers=headers)).json()
        assert found["id"] == device["id"]
        assert found["customerId"]["id"] == customer["id"]["id"]
        latest = (
            await client.get(
                f"/api/plugins/telemetry/DEVICE/{found['id']['id']}/values/timeseries?keys=t", headers=headers
            )
        ).json()
        assert latest == {"t": [{"ts": 1_700_000_000_000, "value": "21.5"}]}
        attrs = (await client.get("/api/v1/persist-tok/attributes")).json()
        assert attrs == {"client": {"fw": "v1"}, "shared": {"led": True}}
        assert (
            await client.get("/api/tenant/customers?customerTitle=Acme", headers=headers)
        ).status_code == 200
        users = await client.get("/api/users?pageSize=10&page=0", headers=headers)
        assert users.json()["totalElements"] == 1  # demo data is not created twice


async def test_deletions_persist(tmp_path: Path) -> None:
    data = str(tmp_path / "tb.sqlite")
    async with Emulator(data_file=data) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _token(client)
        device = (
            await client.post("/api/device?accessToken=gone-tok", json={"name": "gone"}, headers=headers)
        ).json()
        await client.post("/api/v1/gone-tok/telemetry", json={"t": 1})
        assert (await client.delete(f"/api/device/{device['id']['id']}", headers=headers)).status_code == 200
    async with Emulator(data_file=data) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _token(client)
        assert (await client.get("/api/tenant/device?deviceName=gone", headers=headers)).status_code == 404
        assert (await client.post("/api/v1/gone-tok/telemetry", json={"t": 1})).status_code == 401


async def test_in_memory_by_default_forgets() -> None:
    async with Emulator() as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _token(client)
        await client.post("/api/device", json={"name": "ephemeral"}, headers=headers)
    async with Emulator() as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _token(client)
        assert (
            await client.get("/api/tenant/device?deviceName=ephemeral", headers=headers)
        ).status_code == 404


async def test_access_token_expiry_is_configurable() -> None:
    # exp is in whole seconds: a 1 s token issued late in a second may be expired by the first request.
    async with Emulator(jwt_expiration_s=3) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        headers = await _token(client)
        assert (await client.get("/api/auth/user", headers=headers)).status_code == 200
        deadline = asyncio.get_running_loop().time() + 8
        while (resp := await client.get("/api/auth/user", headers=headers)).status_code == 200:
            assert asyncio.get_running_loop().time() < deadline, "token never expired"
            await asyncio.sleep(0.05)
        assert (resp.status_code, resp.json()["errorCode"], resp.json()["message"]) == (
            401,
            11,
            "Token has expired",
        )
