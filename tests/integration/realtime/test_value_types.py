"""Contract: a reading has the JSON type ThingsBoard stored it with, on REST, /ws, SSE and in history.

ThingsBoard's WebSocket (and the emulator's, which behaves the same) sends every value as a string; petit
types them from a strict read per key. The string ``"true"`` and the boolean ``true`` must not be confused.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.asyncio.client import connect

from petit.app import create_app
from petit.realtime.config import StreamLimits
from petit.runtime import runtime_of
from tests.integration.devicedata.conftest import Kit
from tests.integration.realtime.conftest import recv_json, run_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

#: One of each JSON type ThingsBoard keeps, and strings that look like other types.
SAMPLE: dict[str, Any] = {
    "led": False,
    "on": True,
    "count": 3,
    "temp": 21.5,
    "whole": 20.0,
    "mode": "true",
    "nothing": "null",
    "label": "42",
    "cfg": {"a": 1, "b": [True, "x"]},
    "empty": "",
}
#: What ThingsBoard stores: its MQTT JSON converter casts numeric strings to numbers
#: (``json.type_cast_enabled``, on by default), nothing else.
STORED: dict[str, Any] = {**SAMPLE, "label": 42}
KEYS = ",".join(SAMPLE)


def _same_types(got: dict[str, Any]) -> None:
    for key, expected in STORED.items():
        value = got[key]
        assert value == expected, (key, value)
        assert type(value) is type(expected), (key, value)


async def _ws_readings(ws_url: str, token: str, want: int) -> dict[str, Any]:
    async with connect(ws_url, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "authenticate", "token": token}))
        assert (await recv_json(ws))["type"] == "authenticated"
        seen: dict[str, Any] = {}
        while len(seen) < want:
            message = await recv_json(ws)
            if message.get("type") == "deviceData":
                seen.update({k: r["value"] for k, r in message["data"]["readings"].items()})
        return seen


async def _sse_lines(client: httpx.AsyncClient, headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    async with client.stream("GET", "/devices/stream", headers=headers) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                yield json.loads(line.removeprefix("data:").strip())


async def _sse_readings(client: httpx.AsyncClient, headers: dict[str, str], want: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async for message in _sse_lines(client, headers):
        if message.get("type") == "deviceData":
            seen.update({k: r["value"] for k, r in message["data"]["readings"].items()})
            if len(seen) >= want:
                break
    return seen


async def test_each_value_keeps_its_stored_type_on_rest_ws_sse_and_history(
    tb_settings: Settings, emulator: Emulator
) -> None:
    app = create_app(tb_settings, stream_limits=StreamLimits(recheck_interval_s=5))
    async with run_server(app) as server, httpx.AsyncClient(base_url=server.http_url, timeout=15) as client:
        kit = Kit(client=client, app=app, emulator=emulator)
        owner = await kit.owner("types")
        device = await kit.device(owner)
        mqtt_device = await kit.connect(device)
        try:
            token = owner.headers["Authorization"].partition(" ")[2]
            ws_task = asyncio.create_task(_ws_readings(server.ws_url, token, len(SAMPLE)))
            sse_task = asyncio.create_task(
                asyncio.wait_for(_sse_readings(client, owner.headers, len(SAMPLE)), 15)
            )
            hub = runtime_of(app).hub
            deadline = time.monotonic() + 10
            while hub.upstream_live != 1:
                assert time.monotonic() < deadline, "no live upstream subscription"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # both streams attached
            await mqtt_device.publish(SAMPLE)
            _same_types(await asyncio.wait_for(ws_task, 15))
            _same_types(await sse_task)
            latest = await client.get(
                f"/devices/{device.id}/telemetry/latest", params={"keys": KEYS}, headers=owner.headers
            )
            assert latest.status_code == 200, latest.text
            _same_types({k: r["value"] for k, r in latest.json()["values"].items()})
            history = await client.get(
                f"/devices/{device.id}/telemetry/history", params={"keys": KEYS}, headers=owner.headers
            )
            assert history.status_code == 200, history.text
            _same_types({k: series[0]["value"] for k, series in history.json()["series"].items()})
        finally:
            await asyncio.to_thread(mqtt_device.close)
