"""The WebSocket API through the real Emulator, with a plain ``websockets`` client.

Devices publish over the HTTP device API (``/api/v1/{token}/…``) and MQTT; users come from the REST API. These
check that updates arrive as devices publish, in TB's format, and that sessions see only what their user may.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import paho.mqtt.client as mqtt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class Tb:
    """A thin async REST helper for setting up entities."""

    def __init__(self, emu: Emulator, http: httpx.AsyncClient) -> None:
        self.emu = emu
        self.http = http

    async def login(self, username: str = "tenant@thingsboard.org", password: str = "tenant") -> str:
        resp = await self.http.post("/api/auth/login", json={"username": username, "password": password})
        resp.raise_for_status()
        token: str = resp.json()["token"]
        return token

    async def create_device(self, token: str) -> tuple[str, str]:
        access_token = f"tok-{uuid.uuid4().hex}"
        resp = await self.http.post(
            "/api/device",
            params={"accessToken": access_token},
            json={"name": f"ws-{uuid.uuid4().hex[:10]}"},
            headers=_bearer(token),
        )
        resp.raise_for_status()
        return resp.json()["id"]["id"], access_token

    async def customer_user_token(self, token: str) -> tuple[str, str]:
        """A new customer and a user of it; returns (customer id, that user's access JWT)."""
        resp = await self.http.post(
            "/api/customer", json={"title": f"c-{uuid.uuid4().hex[:10]}"}, headers=_bearer(token)
        )
        resp.raise_for_status()
        customer_id = resp.json()["id"]["id"]
        user = {
            "email": f"u-{uuid.uuid4().hex[:10]}@example.com",
            "authority": "CUSTOMER_USER",
            "customerId": {"entityType": "CUSTOMER", "id": customer_id},
        }
        resp = await self.http.post(
            "/api/user", params={"sendActivationMail": "false"}, json=user, headers=_bearer(token)
        )
        resp.raise_for_status()
        user_id = resp.json()["id"]["id"]
        resp = await self.http.get(f"/api/user/{user_id}/token", headers=_bearer(token))
        resp.raise_for_status()
        return customer_id, resp.json()["token"]

    async def assign(self, token: str, customer_id: str, device_id: str) -> None:
        resp = await self.http.post(f"/api/customer/{customer_id}/device/{device_id}", headers=_bearer(token))
        resp.raise_for_status()

    async def post_telemetry(self, access_token: str, payload: Any) -> None:
        resp = await self.http.post(f"/api/v1/{access_token}/telemetry", json=payload)
        assert resp.status_code == 200, resp.text

    async def post_attributes(self, access_token: str, payload: Any) -> None:
        resp = await self.http.post(f"/api/v1/{access_token}/attributes", json=payload)
        assert resp.status_code == 200, resp.text

    def ws(self, path: str = "/api/ws") -> Any:
        return connect(self.emu.ws_url + path, open_timeout=5, close_timeout=2)


def _bearer(token: str) -> dict[str, str]:
    return {"X-Authorization": f"Bearer {token}"}


@pytest.fixture
async def tb(emulator: Emulator) -> AsyncIterator[Tb]:
    async with httpx.AsyncClient(base_url=emulator.http_url, timeout=10) as http:
        yield Tb(emulator, http)


async def recv_json(ws: ClientConnection, within: float = 5) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), within))
    assert isinstance(message, dict)
    return message


async def expect_close(ws: ClientConnection, within: float = 5) -> tuple[int, str]:
    deadline = time.monotonic() + within
    try:
        while True:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        frame = closed.rcvd
    assert frame is not None, "the server closed without a close frame"
    return frame.code, frame.reason


def auth(token: str, *cmds: dict[str, Any]) -> str:
    return json.dumps({"authCmd": {"cmdId": 0, "token": token}, "cmds": list(cmds)})


def ts_cmd(device_id: str, cmd_id: int, **extra: Any) -> dict[str, Any]:
    return {"type": "TIMESERIES", "entityType": "DEVICE", "entityId": device_id, "cmdId": cmd_id, **extra}


def attr_cmd(device_id: str, cmd_id: int, **extra: Any) -> dict[str, Any]:
    return {"type": "ATTRIBUTES", "entityType": "DEVICE", "entityId": device_id, "cmdId": cmd_id, **extra}


async def test_updates_arrive_as_a_device_publishes_over_http(tb: Tb) -> None:
    token = await tb.login()
    device_id, access = await tb.create_device(token)
    await tb.post_telemetry(access, {"temperature": 21})
    async with tb.ws() as ws:
        await ws.send(auth(token, ts_cmd(device_id, 10, scope="LATEST_TELEMETRY")))
        snapshot = await recv_json(ws)
        assert snapshot["subscriptionId"] == 10
        assert snapshot["errorCode"] == 0
        assert snapshot["errorMsg"] is None
        [[ts0, value0]] = snapshot["data"]["temperature"]
        assert value0 == "21"
        assert snapshot["latestValues"] == {"temperature": ts0}

        await tb.post_telemetry(
            access, {"ts": 1_900_000_000_000, "values": {"temperature": 22.5, "on": True}}
        )
        delta = await recv_json(ws)
        assert delta == {
            "subscriptionId": 10,
            "errorCode": 0,
            "errorMsg": None,
            "data": {"temperature": [[1_900_000_000_000, "22.5"]], "on": [[1_900_000_000_000, "true"]]},
            "latestValues": {"temperature": 1_900_000_000_000, "on": 1_900_000_000_000},
        }


async def test_client_attributes_and_activity_over_the_legacy_endpoint(tb: Tb) -> None:
    token = await tb.login()
    device_id, access = await tb.create_device(token)
    async with tb.ws(f"/api/ws/plugins/telemetry?token={token}") as ws:
        message = {
            "attrSubCmds": [
                {"entityType": "DEVICE", "entityId": device_id, "scope": "CLIENT_SCOPE", "cmdId": 1},
                {"entityType": "DEVICE", "entityId": device_id, "scope": "SERVER_SCOPE", "cmdId": 2},
            ]
        }
        await ws.send(json.dumps(message))
        snapshots = {m["subscriptionId"]: m for m in [await recv_json(ws), await recv_json(ws)]}
        assert snapshots[1]["data"] == {}
        await tb.post_attributes(access, {"fw": "1.0.1"})
        # The client attribute (cmd 1) and the activity flip (cmd 2) arrive in either order.
        seen: dict[int, dict[str, Any]] = {}
        while len(seen) < 2:
            update = await recv_json(ws)
            seen.setdefault(update["subscriptionId"], update)
        assert [[value for _, value in rows] for rows in seen[1]["data"].values()] == [["1.0.1"]]
        assert seen[2]["data"]["active"][0][1] == "true"
        assert "lastActivityTime" in seen[2]["data"]


async def test_updates_arrive_as_a_device_publishes_over_mqtt(tb: Tb) -> None:
    token = await tb.login()
    device_id, access = await tb.create_device(token)
    async with tb.ws() as ws:
        await ws.send(auth(token, ts_cmd(device_id, 3, keys="rssi")))
        snapshot = await recv_json(ws)
        assert snapshot["data"]["rssi"][0][1] is None  # no data yet: [now, null]

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ws-{uuid.uuid4().hex[:8]}")
        client.username_pw_set(access)
        await asyncio.to_thread(client.connect, "127.0.0.1", tb.emu.mqtt_port)
        client.loop_start()
        try:
            info = client.publish("v1/devices/me/telemetry", json.dumps({"rssi": -61, "other": 1}), qos=1)
            await asyncio.to_thread(info.wait_for_publish, 5)
            update = await recv_json(ws)
            assert list(update["data"]) == ["rssi"]
            assert update["data"]["rssi"][0][1] == "-61"
        finally:
            client.disconnect()
            client.loop_stop()


async def test_devices_do_not_leak_into_each_others_subscriptions(tb: Tb) -> None:
    token = await tb.login()
    device_a, access_a = await tb.create_device(token)
    device_b, access_b = await tb.create_device(token)
    async with tb.ws() as ws:
        await ws.send(auth(token, ts_cmd(device_a, 1, keys="x"), ts_cmd(device_b, 2, keys="x")))
        await recv_json(ws)
        await recv_json(ws)
        await tb.post_telemetry(access_b, {"x": "from-b"})
        await tb.post_telemetry(access_a, {"x": "from-a"})
        first, second = await recv_json(ws), await recv_json(ws)
        assert (first["subscriptionId"], first["data"]["x"][0][1]) == (2, "from-b")
        assert (second["subscriptionId"], second["data"]["x"][0][1]) == (1, "from-a")


async def test_customer_user_sees_only_its_customers_devices(tb: Tb) -> None:
    tenant_token = await tb.login()
    mine, access_mine = await tb.create_device(tenant_token)
    theirs, access_theirs = await tb.create_device(tenant_token)
    unassigned, _ = await tb.create_device(tenant_token)
    customer_1, user_1 = await tb.customer_user_token(tenant_token)
    customer_2, _ = await tb.customer_user_token(tenant_token)
    await tb.assign(tenant_token, customer_1, mine)
    await tb.assign(tenant_token, customer_2, theirs)
    sysadmin = await tb.login("sysadmin@thingsboard.org", "sysadmin")

    async with tb.ws() as ws:
        await ws.send(
            auth(user_1, ts_cmd(theirs, 1), attr_cmd(theirs, 2), ts_cmd(unassigned, 3), ts_cmd(mine, 4))
        )
        updates = {m["subscriptionId"]: m for m in [await recv_json(ws) for _ in range(4)]}
        assert updates[1] == {
            "subscriptionId": 1,
            "errorCode": 1,
            "errorMsg": "Failed to fetch data!",
            "data": None,
            "latestValues": {},
        }
        assert (updates[2]["errorCode"], updates[2]["errorMsg"]) == (1, "Failed to fetch attributes!")
        assert updates[3]["errorCode"] == 1
        assert updates[4]["errorCode"] == 0
        await tb.post_telemetry(access_theirs, {"secret": 1})
        await tb.post_telemetry(access_mine, {"mine": 1})
        update = await recv_json(ws)
        assert update["subscriptionId"] == 4
        assert "secret" not in update["data"]

    async with tb.ws() as ws:
        await ws.send(auth(sysadmin, ts_cmd(mine, 1)))
        assert (await recv_json(ws))["errorCode"] == 1


async def test_unsubscribe_stops_updates(tb: Tb) -> None:
    token = await tb.login()
    device_id, access = await tb.create_device(token)
    async with tb.ws() as ws:
        await ws.send(auth(token, ts_cmd(device_id, 1, keys="t"), ts_cmd(device_id, 2, keys="t")))
        await recv_json(ws)
        await recv_json(ws)
        await ws.send(json.dumps({"cmds": [ts_cmd(device_id, 1, unsubscribe=True)]}))
        for value in ("a", "b"):
            await tb.post_telemetry(access, {"t": value})
            update = await recv_json(ws)
            assert (update["subscriptionId"], update["data"]["t"][0][1]) == (2, value)


async def test_history_cmd_through_the_core(tb: Tb) -> None:
    token = await tb.login()
    device_id, access = await tb.create_device(token)
    base = 1_700_000_000_000
    await tb.post_telemetry(access, [{"ts": base + i, "values": {"t": i}} for i in range(5)])
    async with tb.ws() as ws:
        history = {
            "type": "TIMESERIES_HISTORY",
            "entityType": "DEVICE",
            "entityId": device_id,
            "keys": "t",
            "startTs": base + 1,
            "endTs": base + 4,
            "cmdId": 9,
        }
        await ws.send(auth(token, history))
        update = await recv_json(ws)
        assert update["data"] == {"t": [[base + 3, "3"], [base + 2, "2"], [base + 1, "1"]]}


async def test_invalid_and_tampered_tokens_are_refused(tb: Tb) -> None:
    token = await tb.login()
    header, payload, _signature = token.split(".")
    tampered = f"{header}.{payload}.{'A' * 86}"
    # TB 4.3 reports a bad signature exactly like an expired token.
    async with tb.ws(f"/api/ws?token={tampered}") as ws:
        assert await expect_close(ws) == (1011, "JWT Token expired")
    async with tb.ws() as ws:
        await ws.send(auth(tampered))
        assert await expect_close(ws) == (1007, "JWT Token expired")
    async with tb.ws("/api/ws?token=not-a-jwt") as ws:
        assert await expect_close(ws) == (1011, "Invalid JWT token: ")
    async with tb.ws() as ws:
        await ws.send(auth("not-a-jwt"))
        assert await expect_close(ws) == (1007, "Invalid JWT token: ")
    async with tb.ws() as ws:
        await ws.send(json.dumps({"cmds": []}))
        assert await expect_close(ws) == (1008, "Auth cmd is missing")


async def test_expired_token_is_refused_but_open_sessions_continue() -> None:
    # exp is in whole seconds, so a 1 s token may have only a few milliseconds left when it is issued late in
    # a second; 3 s leaves at least 2 s to open the first session on a loaded machine.
    async with (
        Emulator(jwt_expiration_s=3) as emu,
        httpx.AsyncClient(base_url=emu.http_url, timeout=10) as http,
    ):
        tb = Tb(emu, http)
        token = await tb.login()
        device_id, access = await tb.create_device(token)
        exp = jwt.decode(token, options={"verify_signature": False})["exp"]
        async with tb.ws() as live:
            await live.send(auth(token, ts_cmd(device_id, 1, keys="t")))
            await recv_json(live)
            deadline = time.monotonic() + 8
            while time.time() <= exp:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            # TB checks the token when a session starts, not afterwards.
            await tb.post_telemetry(access, {"t": "after-expiry"})
            assert (await recv_json(live))["data"]["t"][0][1] == "after-expiry"
        async with tb.ws(f"/api/ws?token={token}") as ws:
            assert await expect_close(ws) == (1011, "JWT Token expired")
        async with tb.ws() as ws:
            await ws.send(auth(token))
            assert await expect_close(ws) == (1007, "JWT Token expired")


async def test_sessions_end_cleanly_on_close_and_on_emulator_stop() -> None:
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.ERROR)
    handler.emit = errors.append  # type: ignore[method-assign]
    uvicorn_log = logging.getLogger("uvicorn.error")
    emu = Emulator()
    try:
        await emu.start()
        # Only now: starting uvicorn reconfigures its loggers and would drop an earlier handler.
        uvicorn_log.addHandler(handler)
        async with httpx.AsyncClient(base_url=emu.http_url, timeout=10) as http:
            tb = Tb(emu, http)
            token = await tb.login()
            device_id, _ = await tb.create_device(token)
        events = emu.core.events
        async with tb.ws() as ws:
            await ws.send(auth(token, ts_cmd(device_id, 1), attr_cmd(device_id, 2)))
            await recv_json(ws)
            await recv_json(ws)
            assert events.has_listeners(device_id)
        deadline = time.monotonic() + 5
        while events.has_listeners(device_id):
            assert time.monotonic() < deadline, "closing the socket left listeners behind"
            await asyncio.sleep(0.01)

        ws = await connect(emu.ws_url + "/api/ws", open_timeout=5)
        await ws.send(auth(token, ts_cmd(device_id, 1)))
        await recv_json(ws)
        await asyncio.wait_for(emu.stop(), 10)
        assert not events.has_listeners(device_id)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    finally:
        await emu.stop()
        uvicorn_log.removeHandler(handler)
    assert not errors, [r.getMessage() for r in errors]
