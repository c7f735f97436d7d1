"""Fixtures for the ownership flows: petit on the emulator, signed-up users, scripted MQTT devices."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from paho.mqtt import client as mqtt

from petit.app import create_app
from petit.runtime import runtime_of

if TYPE_CHECKING:
    import httpx
    from litestar import Litestar

    from petit.settings import Settings
    from petit.thingsboard.port import ThingsBoardPort
    from thingsboard_emulator import Emulator


class ShiftedClock:
    """The system clock, plus an offset a test moves forward to make secrets expire without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset.total_seconds()


@dataclass
class User:
    id: uuid.UUID
    email: str
    headers: dict[str, str]


class ScriptedDevice:
    """A device on the emulator's MQTT broker, doing what porto_contract/device says firmware does."""

    def __init__(self, port: int, token: str) -> None:
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        self._client.username_pw_set(token)
        self.connected = asyncio.Event()
        self.refused = False
        loop = asyncio.get_running_loop()

        def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            self.refused = reason.is_failure
            loop.call_soon_threadsafe(self.connected.set)

        self._client.on_connect = on_connect
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    async def wait_connected(self) -> bool:
        await asyncio.wait_for(self.connected.wait(), 15)
        return not self.refused

    async def _publish(self, topic: str, body: dict[str, Any]) -> None:
        info = self._client.publish(topic, json.dumps(body), qos=1)
        await asyncio.to_thread(info.wait_for_publish, 15)

    async def send_pair_key(self, pair_key: str) -> None:
        await self._publish(
            "v1/devices/me/attributes",
            {"pairKey": pair_key, "mac": "AA:BB:CC:DD:EE:FF", "firmwareVersion": "1.0.0"},
        )

    async def request_claim(self, secret: str) -> None:
        await self._publish("v1/devices/me/claim", {"secretKey": secret, "durationMs": 60_000})

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class Kit:
    client: httpx.AsyncClient
    app: Litestar
    emulator: Emulator
    clock: ShiftedClock
    devices: list[ScriptedDevice] = field(default_factory=list)

    @property
    def thingsboard(self) -> ThingsBoardPort:
        port: ThingsBoardPort = runtime_of(self.app).thingsboard
        return port

    async def user(self, tag: str = "owner") -> User:
        email = f"{tag}-{uuid.uuid4().hex[:12]}@example.com"
        password = uuid.uuid4().hex
        signup = await self.client.post("/auth/signup", json={"email": email, "password": password})
        assert signup.status_code == 201, signup.text
        login = await self.client.post("/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        return User(uuid.UUID(signup.json()["id"]), email, headers)

    async def device(self, token: str) -> ScriptedDevice:
        device = ScriptedDevice(self.emulator.mqtt_port, token)
        self.devices.append(device)
        assert await device.wait_connected()
        return device

    async def wait_state(
        self, user: User, pairing_id: str, *states: str, within_s: float = 20
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while True:
            response = await self.client.get(f"/pairings/{pairing_id}", headers=user.headers)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["state"] in states:
                return body
            assert time.monotonic() < deadline, f"pairing stuck in {body['state']}, wanted {states}"
            await asyncio.sleep(0.05)

    async def events(self, user: User, device_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/devices/{device_id}/events", headers=user.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


KitFactory = Callable[..., AbstractAsyncContextManager[Kit]]


@pytest.fixture
def ownership_settings(
    make_settings: Callable[..., Settings], tb_settings: Settings
) -> Callable[..., Settings]:
    def factory(**ownership: Any) -> Settings:
        return make_settings(
            thingsboard=tb_settings.thingsboard.model_dump(mode="python")
            | {"password": tb_settings.thingsboard.password.get_secret_value()}  # type: ignore[union-attr]
            | {"request_timeout_s": 2.0},
            ownership={"pairing_watch_interval_s": 0.1, **ownership},
        )

    return factory


@pytest.fixture
async def kit(
    ownership_settings: Callable[..., Settings],
    emulator: Emulator,
    serve: Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]],
    request: pytest.FixtureRequest,
) -> AsyncIterator[Kit]:
    options: dict[str, Any] = getattr(request, "param", {})
    clock = ShiftedClock()
    app = create_app(ownership_settings(**options), clock=clock)
    async with serve(app) as client:
        kit = Kit(client, app, emulator, clock)
        try:
            yield kit
        finally:
            for device in kit.devices:
                device.close()


Waiter = Callable[[], Awaitable[None]]
