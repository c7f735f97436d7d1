"""All four parts for real: the porto client → petit (uvicorn on an OS port, PostgreSQL, Redis) → the
ThingsBoard emulator ← simulated devices (firmware.sim) on their own loopback ports.

Tests here are synchronous, like the app: petit and the emulator each run on a thread and loop of their own.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from firmware.sim.fleet import Fleet
from firmware.sim.world import World
from petit.app import create_app
from porto_contract.client import DeviceClient, PortoClient
from tests.emulated import thingsboard_settings
from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from litestar import Litestar

    from firmware.sim.fleet import SimDevice
    from petit.settings import Settings

SSID = "e2e-home"
WIFI_PASSWORD = "e2e-correct-horse"
# Fast device timings: failures surface within a test's patience, not a real device's.
FAST = {"backoff_base_s": 0.1, "backoff_max_s": 0.5, "telemetry_interval_s": 0.3, "wifi_timeout_s": 2.0}


def eventually(condition: Callable[[], Any], within: float = 15.0, what: str = "condition") -> Any:
    """Poll until ``condition`` returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s")
        time.sleep(0.05)


class ShiftedClock:
    """The system clock plus an offset, so a test can make a pairing expire without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset.total_seconds()


class PetitServer:
    """petit under uvicorn on its own thread and loop, listening on an OS-chosen loopback port."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="petit-e2e", daemon=True)
        config = uvicorn.Config(app, ws="websockets-sansio", log_level="warning", lifespan="on")
        config.load()
        self._server = uvicorn.Server(config)
        # startup()/shutdown() rather than serve(): serve() would take over the process's signal handlers.
        self._server.lifespan = config.lifespan_class(config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.running = False

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.startup(sockets=[self._sock]), self._loop).result(30)
        self.running = True

    def stop(self) -> None:
        """Stop serving (the port then refuses connections): "the server is down"."""
        if self.running:
            self.running = False
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(30)
            self._sock.close()

    def close(self) -> None:
        self.stop()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()


class TbAdmin:
    """The tenant administrator's view of the emulator (what a factory or an operator does)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)
        login = self.http.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        login.raise_for_status()
        self.http.headers["X-Authorization"] = f"Bearer {login.json()['token']}"

    def create_device(self) -> tuple[str, str]:
        """A pre-provisioned device without an owner: ``(name, access token)``."""
        token = secrets.token_hex(10)
        name = f"factory-{uuid.uuid4().hex[:10]}"
        response = self.http.post(
            "/api/device", params={"accessToken": token}, json={"name": name, "type": "default"}
        )
        response.raise_for_status()
        return name, token

    def device_id(self, name: str) -> str:
        response = self.http.get("/api/tenant/devices", params={"deviceName": name})
        response.raise_for_status()
        return str(response.json()["id"]["id"])

    def close(self) -> None:
        self.http.close()


@dataclass
class Stack:
    petit: PetitServer
    emulator: Emulator
    world: World
    fleet: Fleet
    clock: ShiftedClock
    admin: TbAdmin
    provision_keys: dict[str, str]
    clients: list[PortoClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.petit.url

    def user(self) -> tuple[PortoClient, str, str]:
        """A new signed-up, logged-in account: ``(client, email, password)``."""
        email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
        password = secrets.token_urlsafe(16)
        client = PortoClient(self.url)
        self.clients.append(client)
        client.signup(email, password)
        client.login(email, password)
        return client, email, password

    def device(self) -> SimDevice:
        return self.fleet.spawn(1)[0]

    def local(self, device: SimDevice) -> DeviceClient:
        return DeviceClient(device.local_url)


def settled(device: DeviceClient, within: float = 15.0) -> Any:
    """The device's status once its attempt ended (4, 5 or 6)."""
    return eventually(lambda: (s := device.status()).status_code >= 4 and s, within, "device attempt ended")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(inactivity_timeout_s=5).run_in_thread() as emu:
        yield emu


@pytest.fixture
def stack(make_settings: Callable[..., Settings], emulator: Emulator) -> Iterator[Stack]:
    keys = {"device_key": f"pk-{secrets.token_hex(8)}", "device_secret": f"ps-{secrets.token_hex(16)}"}
    settings = make_settings(
        thingsboard=thingsboard_settings(emulator),
        ownership={"pairing_watch_interval_s": 0.1},
        provisioning=keys,
    )
    clock = ShiftedClock()
    petit = PetitServer(create_app(settings, clock=clock))
    world = World(join_delay_s=0.05)
    world.add(SSID, WIFI_PASSWORD)
    world.add("e2e-cafe", "")
    admin = TbAdmin(emulator.http_url)
    petit.start()
    try:
        with Fleet(
            world,
            mqtt_port=emulator.mqtt_port,
            settings=dict(FAST),
            ack_timeout_s=1.0,
            connect_timeout_s=1.0,
        ) as fleet:
            stack = Stack(petit, emulator, world, fleet, clock, admin, keys)
            try:
                yield stack
            finally:
                for client in stack.clients:
                    client.close()
    finally:
        admin.close()
        petit.close()
