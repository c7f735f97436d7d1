"""Other features reach live streams by themselves: losing a device (delete, release), pairing progress."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest

from petit.app import create_app
from petit.realtime.config import StreamLimits
from tests.integration.pairing.conftest import ScriptedDevice
from tests.integration.realtime.conftest import (
    authed_socket,
    collect,
    new_account,
    recv_until,
    run_server,
)

if TYPE_CHECKING:
    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/devices/{id}"), ("POST", "/devices/{id}/release")])
async def test_losing_a_device_through_the_api_sends_device_revoked(
    tb_settings: Settings, method: str, path: str
) -> None:
    app = create_app(tb_settings, stream_limits=StreamLimits(recheck_interval_s=0.2, auth_timeout_s=1.0))
    async with run_server(app) as server:
        account = await new_account(server)
        headers = {"Authorization": f"Bearer {account.access}"}
        async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=10) as http:
            created = await http.post("/devices", json={"name": "kitchen plug"})
            assert created.status_code == 201, created.text
            device_id = created.json()["id"]
            async with authed_socket(server, account.access) as ws:
                lost = await http.request(method, path.format(id=device_id))
                assert lost.status_code == 204, lost.text
                revoked = await recv_until(ws, "deviceRevoked", within=2.0)
        assert revoked["data"]["deviceId"] == device_id


async def test_pairing_progress_reaches_the_owners_stream(tb_settings: Settings, emulator: Emulator) -> None:
    settings = tb_settings.model_copy(
        update={"ownership": tb_settings.ownership.model_copy(update={"pairing_watch_interval_s": 0.1})}
    )
    app = create_app(settings)
    async with run_server(app) as server:
        account = await new_account(server)
        headers = {"Authorization": f"Bearer {account.access}"}
        async with (
            httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=10) as http,
            authed_socket(server, account.access) as ws,
        ):
            started = await http.post("/pairings", json={"name": "hall sensor"})
            assert started.status_code == 201, started.text
            pairing = started.json()
            device = ScriptedDevice(emulator.mqtt_port, pairing["accessToken"])
            try:
                assert await device.wait_connected()
                connected = await recv_until(ws, "pairingProgress", within=5.0)
                await device.send_pair_key(pairing["pairKey"])
                completed = await recv_until(ws, "pairingProgress", within=5.0)
                read = (await http.get(f"/pairings/{pairing['pairingId']}")).json()
            finally:
                device.close()
    assert connected["data"]["pairingId"] == completed["data"]["pairingId"] == pairing["pairingId"]
    assert [connected["data"]["stage"], completed["data"]["stage"]] == ["device_connected", "completed"]
    assert "deviceId" not in connected["data"]
    assert completed["data"]["deviceId"] == read["deviceId"]


async def test_a_freshly_paired_device_streams_under_its_petit_id(
    tb_settings: Settings, emulator: Emulator
) -> None:
    settings = tb_settings.model_copy(
        update={"ownership": tb_settings.ownership.model_copy(update={"pairing_watch_interval_s": 0.1})}
    )
    app = create_app(settings)
    async with run_server(app) as server:
        account = await new_account(server)
        headers = {"Authorization": f"Bearer {account.access}"}
        async with (
            httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=10) as http,
            authed_socket(server, account.access) as ws,
        ):
            pairing = (await http.post("/pairings", json={"name": "porch light"})).json()
            device = ScriptedDevice(emulator.mqtt_port, pairing["accessToken"])
            try:
                assert await device.wait_connected()
                await device.send_pair_key(pairing["pairKey"])
                while (await recv_until(ws, "pairingProgress", within=5.0))["data"]["stage"] != "completed":
                    pass
                device_id = (await http.get(f"/pairings/{pairing['pairingId']}")).json()["deviceId"]
                deadline = asyncio.get_running_loop().time() + 8
                seen: list[object] = []
                # Publishing until a frame arrives: the upstream subscription for the new device is set up
                # asynchronously, so the first publish may precede it.
                while not any(m["type"] == "deviceData" for m in seen):
                    assert asyncio.get_running_loop().time() < deadline, "no deviceData for the paired device"
                    await device._publish("v1/devices/me/telemetry", {"lux": 120})
                    seen = await collect(ws, 0.5)
                ids = {m["data"]["deviceId"] for m in seen if m["type"] == "deviceData"}
                assert ids == {device_id}
            finally:
                device.close()
