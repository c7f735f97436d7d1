"""porto_contract/schemas/ws: examples are valid, and every frame a live server sends matches its schema."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import connect

from petit.app import create_app
from petit.realtime.config import StreamLimits
from petit.realtime.events import publish_device_revoked, publish_pairing_progress
from petit.runtime import runtime_of
from tests.integration.realtime.conftest import give_device, new_account, recv_json, recv_until, run_server

if TYPE_CHECKING:
    from petit.settings import Settings
    from thingsboard_emulator import Emulator

SCHEMAS = Path(__file__).resolve().parents[3] / "porto_contract" / "schemas" / "ws"
CLIENT_TYPES = {"authenticate", "subscribe", "ping"}


def _schemas() -> dict[str, dict[str, Any]]:
    found = {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMAS.glob("*.json"))
    }
    assert found, f"no schemas in {SCHEMAS}"
    return found


def _validate(message: dict[str, Any]) -> None:
    schemas = _schemas()
    kind = message.get("type")
    assert kind in schemas, f"no schema for {kind!r}"
    jsonschema.validate(message, schemas[kind], format_checker=jsonschema.FormatChecker())


@pytest.mark.contract
@pytest.mark.parametrize("name", sorted(_schemas()))
def test_each_schema_is_valid_and_its_examples_match(name: str) -> None:
    schema = _schemas()[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["type"] == {"const": name}
    assert schema["examples"]
    for example in schema["examples"]:
        jsonschema.validate(example, schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.contract
def test_a_wrong_message_is_refused_by_its_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validate({"type": "deviceData", "seq": 1, "data": {"deviceId": "x", "readings": {}}})


@pytest.mark.integration
async def test_every_frame_the_server_sends_matches_the_contract(
    tb_settings: Settings, emulator: Emulator
) -> None:

    app = create_app(tb_settings, stream_limits=StreamLimits(recheck_interval_s=0.1))
    async with run_server(app) as server:
        account = await new_account(server)
        device_id, token = await give_device(server, account)
        sent: list[dict[str, Any]] = []
        async with connect(server.ws_url) as ws:
            outgoing = [
                {"type": "ping"},
                {"type": "authenticate", "token": account.access, "lastSeq": 0},
                {"type": "subscribe", "keys": ["power"]},
                {"type": "ping"},
                {"type": "bogus"},
            ]
            for message in outgoing:
                if message["type"] in CLIENT_TYPES:
                    _validate(message)
                await ws.send(json.dumps(message))
            for _ in range(len(outgoing)):
                sent.append(await recv_json(ws))
            deadline = time.monotonic() + 5
            while runtime_of(app).hub.upstream_subscriptions != 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"contract-{token}")
            device.username_pw_set(token)
            await asyncio.to_thread(device.connect, "127.0.0.1", emulator.mqtt_port, 30)
            device.loop_start()
            try:
                sent.append(await recv_until(ws, "deviceStatus"))
                info = device.publish("v1/devices/me/telemetry", json.dumps({"power": 3.5}), qos=1)
                await asyncio.to_thread(info.wait_for_publish, 5)
                sent.append(await recv_until(ws, "deviceData"))
            finally:
                device.disconnect()
                device.loop_stop()
            await publish_pairing_progress(
                runtime_of(app).hub, account.user_id, pairing_id="p", stage="started"
            )
            sent.append(await recv_until(ws, "pairingProgress"))
            await publish_device_revoked(runtime_of(app).hub, account.user_id, device_id)
            sent.append(await recv_until(ws, "deviceRevoked"))
        kinds = {m["type"] for m in sent}
        assert {"error", "authenticated", "subscribed", "pong", "deviceStatus", "deviceData"} <= kinds
        for message in sent:
            _validate(message)
