"""GetStreamToken: the token streams the user's own devices straight from ThingsBoard and nobody else's."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

if TYPE_CHECKING:
    from tests.integration.devicedata.conftest import Kit

pytestmark = pytest.mark.integration


async def recv_json(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    return message


def subscribe(stream_id: str, cmd_id: int) -> dict[str, Any]:
    return {"type": "TIMESERIES", "entityType": "DEVICE", "entityId": stream_id, "cmdId": cmd_id}


async def test_stream_token_reads_own_device_and_is_refused_anothers(kit: Kit) -> None:
    alice, bob = await kit.owner("alice"), await kit.owner("bob")
    alices, bobs = await kit.device(alice), await kit.device(bob)
    bobs_mqtt = await kit.connect(bobs)

    response = await kit.client.get("/streaming/token", headers=bob.headers)
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["cache-control"]
    grant = response.json()
    assert grant["wsUrl"] == f"{kit.emulator.ws_url}/api/ws"
    assert datetime.fromisoformat(grant["expiresAt"]).timestamp() > time.time()
    assert grant["devices"] == [{"deviceId": str(bobs.id), "streamId": str(bobs.platform_id)}]

    async with connect(grant["wsUrl"]) as ws:
        auth = {"authCmd": {"cmdId": 0, "token": grant["token"]}}
        cmds = [subscribe(str(alices.platform_id), 1), subscribe(grant["devices"][0]["streamId"], 2)]
        await ws.send(json.dumps({**auth, "cmds": cmds}))
        first = {u["subscriptionId"]: u for u in [await recv_json(ws), await recv_json(ws)]}
        assert first[1]["errorCode"] != 0, "Bob's token read Alice's device"
        assert first[2]["errorCode"] == 0

        await bobs_mqtt.publish({"temperature": 20.5})
        update = await recv_json(ws)
        assert update["subscriptionId"] == 2
        assert [v for _, v in update["data"]["temperature"]] in (["20.5"], [20.5])


async def test_stream_token_needs_a_petit_login(kit: Kit) -> None:
    response = await kit.client.get("/streaming/token")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
