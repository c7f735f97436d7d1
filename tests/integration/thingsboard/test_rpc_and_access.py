"""Commands to a connected device, and the isolation of customer-scoped streaming tokens."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest
from paho.mqtt import client as mqtt
from tb_rest_client.models.models_ce import DeviceId
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client_ce import RestClientCE

from petit.thingsboard import ThingsBoardClient, ThingsBoardTimeoutError

if TYPE_CHECKING:
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

Names = Callable[[str], str]


class EchoDevice:
    """A device on MQTT that answers every command with its method and params."""

    def __init__(self, port: int, token: str) -> None:
        self.subscribed = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.received = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        self._client.username_pw_set(token)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_args: self.subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe("v1/devices/me/rpc/request/+", qos=1)

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        request = json.loads(message.payload)
        self.requests.append(request)
        self.received.set()
        request_id = message.topic.rsplit("/", 1)[1]
        reply = {"method": request["method"], "params": request.get("params"), "temperature": 21.5}
        client.publish(f"v1/devices/me/rpc/response/{request_id}", json.dumps(reply), qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
async def echo_device(
    tb: ThingsBoardClient, emulator: Emulator, unique_name: Names
) -> AsyncIterator[tuple[uuid.UUID, EchoDevice]]:
    device = await tb.create_device(unique_name("echo"), owner_id=None)
    token = (await tb.get_credentials(device.id)).access_token
    echo = await asyncio.to_thread(EchoDevice, emulator.mqtt_port, token)
    assert await asyncio.to_thread(echo.subscribed.wait, 5.0), "device never subscribed"
    yield device.id, echo
    await asyncio.to_thread(echo.close)


@pytest.mark.parametrize("params", [{"name": "blink", "args": {"times": 3}}, {}])
async def test_command_round_trip(
    tb: ThingsBoardClient, echo_device: tuple[uuid.UUID, EchoDevice], params: dict[str, Any]
) -> None:
    device_id, echo = echo_device
    reply = await tb.call_device(device_id, "callFunction", params, timeout_s=3)
    assert reply == {"method": "callFunction", "params": params, "temperature": 21.5}
    assert echo.requests[-1] == {"method": "callFunction", "params": params}


async def test_one_way_command_returns_nothing(
    tb: ThingsBoardClient, echo_device: tuple[uuid.UUID, EchoDevice]
) -> None:
    device_id, echo = echo_device
    assert await tb.call_device(device_id, "setLed", {"on": True}, expect_reply=False, timeout_s=3) is None
    assert await asyncio.to_thread(echo.received.wait, 3.0)
    assert echo.requests == [{"method": "setLed", "params": {"on": True}}]


async def test_disconnected_device_times_out(
    tb: ThingsBoardClient, echo_device: tuple[uuid.UUID, EchoDevice]
) -> None:
    device_id, echo = echo_device
    await asyncio.to_thread(echo.close)
    with pytest.raises(ThingsBoardTimeoutError):
        await tb.call_device(device_id, "callFunction", {}, timeout_s=0.5)


async def test_stream_token_reads_own_devices_only(
    tb: ThingsBoardClient, emulator: Emulator, unique_name: Names
) -> None:
    alice = await tb.ensure_owner(f"{unique_name('alice')}@example.com")
    bob = await tb.ensure_owner(f"{unique_name('bob')}@example.com")
    alices = await tb.create_device(unique_name("a"), owner_id=alice.owner_id)
    bobs = await tb.create_device(unique_name("b"), owner_id=bob.owner_id)
    unowned = await tb.create_device(unique_name("t"), owner_id=None)

    access = await tb.stream_access(bob.account_id)
    assert access.ws_url == f"{emulator.ws_url}/api/ws"
    assert access.expires_at > time.time()

    def as_bob(device_id: uuid.UUID, read: str) -> int:
        rest = RestClientCE(emulator.http_url)
        rest.token_login(access.token)
        ref = DeviceId(str(device_id), "DEVICE")
        try:
            if read == "device":
                rest.get_device_by_id(ref)
            else:
                rest.get_latest_timeseries(ref, keys="t")
        except ApiException as exc:
            return int(exc.status)
        return 200

    for read in ("device", "telemetry"):
        assert await asyncio.to_thread(as_bob, bobs.id, read) == 200
        assert await asyncio.to_thread(as_bob, alices.id, read) == 403
        assert await asyncio.to_thread(as_bob, unowned.id, read) == 403
