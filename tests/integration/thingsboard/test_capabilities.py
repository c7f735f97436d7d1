"""The port's capability methods on ThingsBoardClient, against the emulator: each lands in (and reads from)
the scope and key real ThingsBoard uses, which is what devices, operators and ThingsBoard's UI see."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from paho.mqtt import client as mqtt

from petit.thingsboard import AttributeScope, ThingsBoardClient

if TYPE_CHECKING:
    import httpx

    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

Names = Callable[[str], str]


def _connect_once(port: int, token: str) -> None:
    """A device opening (and closing) an MQTT session: what makes ThingsBoard stamp its connection."""
    accepted = threading.Event()

    def on_connect(_client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not reason.is_failure:
            accepted.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
    client.username_pw_set(token)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert accepted.wait(5), "the broker did not accept the device"
    finally:
        client.disconnect()
        client.loop_stop()


async def test_connected_since_is_none_until_the_device_connects(
    tb: ThingsBoardClient, unique_name: Names, emulator: Emulator
) -> None:
    device = await tb.create_device(unique_name("conn"), owner_id=None)
    assert await tb.connected_since(device.id) is None

    before = datetime.now(UTC)
    token = (await tb.get_credentials(device.id)).access_token
    await asyncio.to_thread(_connect_once, emulator.mqtt_port, token)

    since = await tb.connected_since(device.id)
    assert since is not None
    assert since.tzinfo is not None
    assert since.utcoffset() == timedelta(0)
    # Whole milliseconds on ThingsBoard's side: allow for the truncation.
    assert before - timedelta(seconds=1) <= since <= datetime.now(UTC)


async def test_pairing_proof_is_the_client_attribute_the_device_published(
    tb: ThingsBoardClient, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    device = await tb.create_device(unique_name("proof"), owner_id=None)
    token = (await tb.get_credentials(device.id)).access_token
    assert await tb.pairing_proof(device.id) is None

    published = await device_http.post(
        f"/api/v1/{token}/attributes", json={"pairKey": "pk-123", "mac": "AA:BB:CC:DD:EE:FF"}
    )
    assert published.status_code == 200
    assert await tb.pairing_proof(device.id) == "pk-123"

    await tb.clear_pairing_proof(device.id)
    assert await tb.pairing_proof(device.id) is None
    # Only the proof goes: the device's other reports stay.
    assert await tb.get_attributes(device.id, AttributeScope.REPORTED) == {"mac": "AA:BB:CC:DD:EE:FF"}
    await tb.clear_pairing_proof(device.id)


async def test_show_status_merges_server_attributes_the_device_cannot_see(
    tb: ThingsBoardClient, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    device = await tb.create_device(unique_name("status"), owner_id=None)
    provisioning = {"flow": "pairing", "at": "2024-01-01T00:00:00+00:00"}
    await tb.show_status(
        device.id,
        {"pairingState": "device_connected", "owner": "a@example.com", "lastProvisioning": provisioning},
    )
    await tb.show_status(device.id, {"pairingState": "paired"})

    assert await tb.get_attributes(device.id, AttributeScope.SERVER) == {
        "pairingState": "paired",
        "owner": "a@example.com",
        "lastProvisioning": provisioning,
    }
    token = (await tb.get_credentials(device.id)).access_token
    seen = await device_http.get(f"/api/v1/{token}/attributes", params={"sharedKeys": "pairingState,owner"})
    assert seen.status_code == 200
    assert "pairingState" not in str(seen.json())


async def test_settings_are_the_shared_attributes_the_device_receives(
    tb: ThingsBoardClient, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    device = await tb.create_device(unique_name("settings"), owner_id=None)
    assert await tb.get_settings(device.id) == {}

    await tb.save_settings(device.id, {"target": 21.5, "mode": "eco", "on": True})
    await tb.save_settings(device.id, {"mode": "comfort"})
    assert await tb.get_settings(device.id) == {"target": 21.5, "mode": "comfort", "on": True}

    token = (await tb.get_credentials(device.id)).access_token
    seen = await device_http.get(f"/api/v1/{token}/attributes", params={"sharedKeys": "mode"})
    assert seen.json() == {"shared": {"mode": "comfort"}}

    await tb.delete_settings(device.id, ["on", "never-set"])
    await tb.delete_settings(device.id, [])
    assert await tb.get_settings(device.id) == {"target": 21.5, "mode": "comfort"}
