"""Fixtures for telemetry, commands, settings and stream tokens: petit on the emulator, owners, devices.

Devices are made the way CreateDevice leaves them (a ThingsBoard device assigned to the owner's customer and
a petit row pointing at it) without going through that route, so these tests depend only on ownership.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from paho.mqtt import client as mqtt
from sqlalchemy import update

from petit.app import create_app
from petit.db.models import Device, PlatformLinkState, User
from petit.runtime import runtime_of

if TYPE_CHECKING:
    from litestar import Litestar

    from petit.settings import Settings
    from petit.thingsboard.port import ThingsBoardPort
    from thingsboard_emulator import Emulator


@dataclass
class Owner:
    user_id: uuid.UUID
    email: str
    headers: dict[str, str]
    platform_owner_id: uuid.UUID


@dataclass
class OwnedDevice:
    id: uuid.UUID
    platform_id: uuid.UUID
    access_token: str = field(repr=False)


class MqttDevice:
    """A device on the emulator's MQTT: publishes telemetry, answers every command with what it got."""

    def __init__(self, port: int, token: str) -> None:
        self.subscribed = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.received = threading.Event()
        self.attribute_updates: list[dict[str, Any]] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        self._client.username_pw_set(token)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._subscriptions = 0
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe([("v1/devices/me/rpc/request/+", 1), ("v1/devices/me/attributes", 1)])

    def _on_subscribe(self, *_args: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        if message.topic == "v1/devices/me/attributes":
            self.attribute_updates.append(payload)
            return
        self.requests.append(payload)
        self.received.set()
        request_id = message.topic.rsplit("/", 1)[1]
        reply = {"called": payload["method"], "with": payload.get("params"), "ok": True}
        client.publish(f"v1/devices/me/rpc/response/{request_id}", json.dumps(reply), qos=1)

    async def publish(self, values: dict[str, Any], ts_ms: int | None = None) -> None:
        """Publish and wait for the broker's ack, off the loop: the emulator runs on the test's loop."""
        body: Any = values if ts_ms is None else {"ts": ts_ms, "values": values}
        info = self._client.publish("v1/devices/me/telemetry", json.dumps(body), qos=1)
        await asyncio.to_thread(info.wait_for_publish, 5)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class Kit:
    """petit on the emulator, with helpers to make owners and owned devices."""

    client: httpx.AsyncClient
    app: Litestar
    emulator: Emulator
    devices: list[MqttDevice] = field(default_factory=list)

    @property
    def thingsboard(self) -> ThingsBoardPort:
        port: ThingsBoardPort = runtime_of(self.app).thingsboard
        return port

    async def owner(self, tag: str = "owner") -> Owner:
        email = f"{tag}-{uuid.uuid4().hex[:12]}@example.com"
        password = uuid.uuid4().hex
        signup = await self.client.post("/auth/signup", json={"email": email, "password": password})
        assert signup.status_code == 201, signup.text
        login = await self.client.post("/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        account = await self.thingsboard.ensure_owner(email)
        user_id = uuid.UUID(signup.json()["id"])
        async with runtime_of(self.app).sessionmaker() as session:
            await session.execute(
                update(User)
                .where(User.id == user_id)  # type: ignore[arg-type]
                .values(
                    platform_owner_id=account.owner_id,
                    platform_account_id=account.account_id,
                    platform_link_state=PlatformLinkState.LINKED,
                )
            )
            await session.commit()
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        return Owner(user_id=user_id, email=email, headers=headers, platform_owner_id=account.owner_id)

    async def device(self, owner: Owner) -> OwnedDevice:
        name = f"dev-{uuid.uuid4().hex[:12]}"
        record = await self.thingsboard.create_device(name, owner_id=owner.platform_owner_id)
        token = (await self.thingsboard.get_credentials(record.id)).access_token
        now = datetime.now(UTC)
        row = Device(
            owner_id=owner.user_id, platform_device_id=record.id, name=name, created_at=now, updated_at=now
        )
        async with runtime_of(self.app).sessionmaker() as session:
            session.add(row)
            await session.commit()
        return OwnedDevice(id=row.id, platform_id=record.id, access_token=token)

    async def connect(self, device: OwnedDevice) -> MqttDevice:
        mqtt_device = await asyncio.to_thread(MqttDevice, self.emulator.mqtt_port, device.access_token)
        self.devices.append(mqtt_device)
        assert await asyncio.to_thread(mqtt_device.subscribed.wait, 5.0), "device never subscribed"
        return mqtt_device


Serve = Callable[["Litestar"], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def kit(tb_settings: Settings, emulator: Emulator, serve: Serve) -> AsyncIterator[Kit]:
    app = create_app(tb_settings)
    async with serve(app) as client:
        kit = Kit(client=client, app=app, emulator=emulator)
        try:
            yield kit
        finally:
            for device in kit.devices:
                await asyncio.to_thread(device.close)


async def eventually(
    probe: Callable[[], Awaitable[httpx.Response]],
    accept: Callable[[httpx.Response], bool],
    within: float = 5.0,
) -> httpx.Response:
    """Poll ``probe`` until ``accept`` holds (devices publish asynchronously); fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response = await probe()
        if accept(response):
            return response
        assert loop.time() < deadline, f"condition not reached in {within}s; last answer {response.text}"
        await asyncio.sleep(0.02)
