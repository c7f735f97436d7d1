"""ThingsBoard CE 4.3 vs 4.4: each difference the emulator reproduces, checked on both versions.

The differences and where in ThingsBoard's source they come from are listed in thingsboard_emulator/README.md
("ThingsBoard 4.3 and 4.4"). Calls that did not change are covered by the rest of tests/emulator (4.3) and by
the adapter's integration tests, which run against both versions.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from thingsboard_emulator import Emulator
from thingsboard_emulator.__main__ import _parser
from thingsboard_emulator.ws._handlers import query_token

VERSIONS = ["4.3", "4.4"]


async def _login(client: httpx.AsyncClient) -> str:
    resp = await client.post(
        "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
    )
    resp.raise_for_status()
    token: str = resp.json()["token"]
    return token


async def _api_key(client: httpx.AsyncClient, jwt_token: str) -> str:
    me = (await client.get("/api/auth/user", headers={"X-Authorization": f"Bearer {jwt_token}"})).json()
    resp = await client.post(
        "/api/apiKey",
        json={"userId": me["id"], "description": "test", "enabled": True, "expirationTime": 0},
        headers={"X-Authorization": f"Bearer {jwt_token}"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"]["entityType"] == "API_KEY"
    assert body["userId"] == me["id"]
    value: str = body["value"]
    return value


def test_version_option_and_cli() -> None:
    assert Emulator().version == "4.3"
    assert Emulator(version="4.4").version == "4.4"
    assert Emulator(version="4.4").core.behaviour.release == "4.4.0.2"
    with pytest.raises(ValueError, match="unsupported ThingsBoard version"):
        Emulator(version="4.2")
    assert _parser().parse_args([]).tb_version == "4.3"
    assert _parser().parse_args(["--tb-version", "4.4"]).tb_version == "4.4"
    with pytest.raises(SystemExit):
        _parser().parse_args(["--tb-version", "5.0"])


@pytest.mark.parametrize("version", VERSIONS)
async def test_api_key_authenticates_rest_on_both(version: str) -> None:
    # ApiKeyController and the "ApiKey " header are in 4.3 already; only the WebSocket use is new in 4.4.
    async with Emulator(version=version) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        value = await _api_key(client, await _login(client))
        resp = await client.get("/api/auth/user", headers={"X-Authorization": f"ApiKey {value}"})
        assert resp.status_code == 200
        assert resp.json()["email"] == "tenant@thingsboard.org"
        bad = await client.get("/api/auth/user", headers={"X-Authorization": "ApiKey nope"})
        assert bad.status_code == 401
        assert bad.json()["message"] == "User not found for the provided API key"


async def _first_close_or_frame(url: str, message: dict[str, Any]) -> tuple[int | None, str]:
    """Send one message; return (close code, reason) if the server closes, else (None, first frame)."""
    try:
        async with connect(url) as ws:
            await ws.send(json.dumps(message))
            frame = await asyncio.wait_for(ws.recv(), timeout=5)
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (-1, "")
    return None, str(frame)


@pytest.mark.parametrize("version", VERSIONS)
async def test_ws_auth_cmd_api_key(version: str) -> None:
    async with Emulator(version=version) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        jwt_token = await _login(client)
        value = await _api_key(client, jwt_token)
        device = (
            await client.post(
                "/api/device?accessToken=ver-ws-tok",
                json={"name": f"v-{uuid.uuid4().hex[:8]}"},
                headers={"X-Authorization": f"Bearer {jwt_token}"},
            )
        ).json()
        await client.post("/api/v1/ver-ws-tok/telemetry", json={"t": 21})
        cmd = {
            "type": "TIMESERIES",
            "entityType": "DEVICE",
            "entityId": device["id"]["id"],
            "keys": "t",
            "cmdId": 1,
        }
        code, body = await _first_close_or_frame(
            f"{emu.ws_url}/api/ws", {"authCmd": {"cmdId": 0, "apiKey": value}, "cmds": [cmd]}
        )
        if version == "4.3":
            # 4.3's AuthCmd has no apiKey: Jackson rejects the message; an unauthenticated session closes.
            assert code == 1007
            assert "apiKey" in body
        else:
            assert code is None
            update = json.loads(body)
            assert update["subscriptionId"] == 1
            assert update["data"]["t"][0][1] == "21"
        code, reason = await _first_close_or_frame(
            f"{emu.ws_url}/api/ws", {"authCmd": {"cmdId": 0, "apiKey": "wrong"}, "cmds": []}
        )
        assert code == 1007
        if version == "4.4":
            assert reason == "User not found for the provided API key"
        # A token still works on both.
        code, body = await _first_close_or_frame(
            f"{emu.ws_url}/api/ws", {"authCmd": {"cmdId": 0, "token": jwt_token}, "cmds": [cmd]}
        )
        assert code is None
        assert json.loads(body)["subscriptionId"] == 1


def test_query_token_parsing_per_version() -> None:
    # 4.3: StringUtils.substringAfter(query, "token="); 4.4: the "token" parameter.
    assert query_token(b"token=abc", as_parameter=False) == "abc"
    assert query_token(b"token=abc", as_parameter=True) == "abc"
    assert query_token(b"token=abc&x=1", as_parameter=False) == "abc&x=1"
    assert query_token(b"token=abc&x=1", as_parameter=True) == "abc"
    assert query_token(b"x=1&token=abc", as_parameter=False) == "abc"
    assert query_token(b"x=1&token=abc", as_parameter=True) == "abc"
    assert query_token(b"mytoken=abc", as_parameter=False) == "abc"
    assert query_token(b"mytoken=abc", as_parameter=True) is None
    assert query_token(b"", as_parameter=False) is None
    assert query_token(b"", as_parameter=True) is None


@pytest.mark.parametrize("version", VERSIONS)
async def test_ws_token_query_with_a_second_parameter(version: str) -> None:
    async with Emulator(version=version) as emu, httpx.AsyncClient(base_url=emu.http_url) as client:
        jwt_token = await _login(client)
        cmd = {"type": "TIMESERIES", "entityType": "DEVICE", "entityId": str(uuid.uuid4()), "cmdId": 3}
        code, body = await _first_close_or_frame(
            f"{emu.ws_url}/api/ws?token={jwt_token}&lang=en", {"cmds": [cmd]}
        )
        if version == "4.3":
            # "JWT&lang=en" is not a JWT: the session never authenticates.
            assert code == 1011
        else:
            assert code is None, body
            assert json.loads(body)["subscriptionId"] == 3


def _mqtt_connect(port: int, token: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"v-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(token)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


@pytest.mark.parametrize("version", VERSIONS)
async def test_disconnect_counts_as_activity_only_on_4_3(version: str) -> None:
    async with (
        Emulator(version=version, inactivity_timeout_s=0.3) as emu,
        httpx.AsyncClient(base_url=emu.http_url) as client,
    ):
        headers = {"X-Authorization": f"Bearer {await _login(client)}"}
        device_id = (
            await client.post("/api/device?accessToken=act-ver", json={"name": "act"}, headers=headers)
        ).json()["id"]["id"]
        device = await asyncio.to_thread(_mqtt_connect, emu.mqtt_port, "act-ver")
        await asyncio.sleep(0.1)
        assert emu.core.device_active(device_id)
        deadline = time.monotonic() + 5
        while emu.core.device_active(device_id):  # the device goes quiet until it is inactive
            assert time.monotonic() < deadline
            emu.core.check_inactivity()
            await asyncio.sleep(0.05)
        before = emu.core.activity[device_id].last_activity_ms
        device.disconnect()
        device.loop_stop()

        async def disconnected() -> bool:
            resp = await client.get(
                f"/api/plugins/telemetry/DEVICE/{device_id}/values/attributes/SERVER_SCOPE?keys=lastDisconnectTime",
                headers=headers,
            )
            return bool(resp.json())

        while not await disconnected():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        if version == "4.3":
            # The CLOSED session event is activity: the quiet device is briefly active again.
            assert emu.core.device_active(device_id)
            assert emu.core.activity[device_id].last_activity_ms > before
        else:
            assert not emu.core.device_active(device_id)
            assert emu.core.activity[device_id].last_activity_ms == before
