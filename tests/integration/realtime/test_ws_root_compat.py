"""Seed 003's client, step by step: POST /signup, POST /login, then the WebSocket at the server root."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.realtime.conftest import give_device, new_account, recv_json, recv_until
from tests.integration.realtime.test_ws_stream import Device, petit, wait_upstream

if TYPE_CHECKING:
    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration


def root_url(ws_url: str) -> str:
    # Seed 003: "ws://<host>:<port>", no path at all.
    return ws_url.removesuffix("/ws")


async def test_the_seed_003_flow_at_the_root(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        email, password = f"seed-{uuid.uuid4().hex[:10]}@example.com", secrets.token_urlsafe(16)
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            signed = await http.post("/signup", json={"email": email, "password": password})
            assert signed.status_code == 201, signed.text
            logged = await http.post("/login", json={"email": email, "password": password})
            assert logged.status_code == 200, logged.text
        token = logged.json()["token"]
        async with connect(root_url(server.ws_url)) as ws:
            await ws.send(json.dumps({"type": "hello"}))
            assert await recv_json(ws) == {"type": "error", "message": "Please authenticate first."}
            await ws.send(json.dumps({"type": "authenticate", "token": token}))
            assert await recv_json(ws) == {"type": "authenticated", "message": "Authentication successful."}


async def test_a_bad_token_at_the_root_gets_the_seed_error_and_a_close(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server, connect(root_url(server.ws_url)) as ws:
        await ws.send(json.dumps({"type": "authenticate", "token": "not-a-jwt"}))
        assert await recv_json(ws) == {"type": "error", "message": "Invalid or expired token."}
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008


async def test_device_data_arrives_at_the_root(tb_settings: Settings, emulator: Emulator) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server, "root")
        device_id, device_token = await give_device(server, account)
        async with connect(root_url(server.ws_url)) as ws, Device(emulator.mqtt_port, device_token) as device:
            await ws.send(json.dumps({"type": "authenticate", "token": account.access}))
            assert (await recv_json(ws))["type"] == "authenticated"
            await wait_upstream(server, 1)
            await device.publish({"temperature": 20.5})
            message = await recv_until(ws, "deviceData")
            assert message["data"]["deviceId"] == str(device_id)
            assert message["data"]["readings"]["temperature"]["value"] == 20.5
