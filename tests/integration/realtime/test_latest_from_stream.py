"""GetLatestTelemetry answered from a live subscription, and never staler than what it delivered.

The bound under test: a read that starts after petit's subscription delivered a value (observed here as a
/ws client receiving it) returns that value or a newer one. Without a live subscription ThingsBoard is read.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from websockets.asyncio.client import connect

from petit.app import create_app
from petit.runtime import runtime_of
from tests.integration.devicedata.conftest import Kit
from tests.integration.realtime.conftest import recv_json, run_server

if TYPE_CHECKING:
    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

SOURCE = "X-Petit-Source"


async def test_reads_come_from_the_stream_and_never_miss_a_delivered_value(
    tb_settings: Settings, emulator: Emulator
) -> None:
    app = create_app(tb_settings)
    async with run_server(app) as server, httpx.AsyncClient(base_url=server.http_url, timeout=15) as client:
        kit = Kit(client=client, app=app, emulator=emulator)
        owner = await kit.owner("fresh")
        device = await kit.device(owner)
        mqtt_device = await kit.connect(device)
        url = f"/devices/{device.id}/telemetry/latest"
        params = {"keys": "n,on"}
        await mqtt_device.publish({"n": 0, "on": False})

        async def latest() -> httpx.Response:
            response = await client.get(url, params=params, headers=owner.headers)
            assert response.status_code == 200, response.text
            return response

        # Nobody streams the device: ThingsBoard answers.
        assert (await latest()).headers[SOURCE] == "thingsboard"

        token = owner.headers["Authorization"].partition(" ")[2]
        async with connect(server.ws_url, open_timeout=5) as ws:
            await ws.send(json.dumps({"type": "authenticate", "token": token}))
            assert (await recv_json(ws))["type"] == "authenticated"
            hub = runtime_of(app).hub
            deadline = time.monotonic() + 10
            while hub.upstream_live != 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            sources: list[str] = []
            for i in range(1, 31):
                await mqtt_device.publish({"n": i, "on": i % 2 == 1})
                while True:
                    message = await recv_json(ws)
                    readings = message.get("data", {}).get("readings", {})
                    if message.get("type") == "deviceData" and readings.get("n", {}).get("value") == i:
                        break
                response = await latest()
                values = response.json()["values"]
                assert values["n"]["value"] >= i, (i, values)
                assert values["on"]["value"] is (values["n"]["value"] % 2 == 1)
                sources.append(response.headers[SOURCE])
            assert set(sources) <= {"stream", "thingsboard"}
            assert sources.count("stream") >= 25, sources
            # A key the subscription never delivered is read from ThingsBoard.
            other = await client.get(url, params={"keys": "n,missing"}, headers=owner.headers)
            assert other.headers[SOURCE] == "thingsboard"
            assert other.json()["values"]["missing"] is None
        deadline = time.monotonic() + 5
        while runtime_of(app).hub.upstream_subscriptions:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert (await latest()).headers[SOURCE] == "thingsboard"
        await asyncio.to_thread(mqtt_device.close)
