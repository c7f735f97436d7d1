"""Simulated devices against the real ThingsBoard emulator over MQTT (emulator on its own thread)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from firmware.sim.fleet import Fleet
from firmware.sim.world import World
from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from firmware.sim.fleet import SimDevice

SSID = "petit-home"
WIFI_PASSWORD = "correct-horse-9"

# Fast timings so failures surface within a test's patience, not a real device's.
FAST = {"backoff_base_s": 0.1, "backoff_max_s": 0.5, "telemetry_interval_s": 0.3, "wifi_timeout_s": 2.0}


def eventually(condition: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


class Rest:
    """The tenant admin's view of the emulator."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        login = self.http.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        login.raise_for_status()
        self.http.headers["X-Authorization"] = f"Bearer {login.json()['token']}"

    def create_device(self, name: str | None = None) -> tuple[str, str, str]:
        """``(device_id, name, access_token)``."""
        token = uuid.uuid4().hex[:20]
        name = name or f"fw-{uuid.uuid4().hex[:10]}"
        response = self.http.post(
            "/api/device", params={"accessToken": token}, json={"name": name, "type": "default"}
        )
        response.raise_for_status()
        return response.json()["id"]["id"], name, token

    def latest(self, device_id: str, keys: str) -> dict[str, Any]:
        response = self.http.get(
            f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries", params={"keys": keys}
        )
        response.raise_for_status()
        return dict(response.json())

    def attributes(self, device_id: str, scope: str) -> dict[str, Any]:
        response = self.http.get(f"/api/plugins/telemetry/DEVICE/{device_id}/values/attributes/{scope}")
        response.raise_for_status()
        return {item["key"]: item["value"] for item in response.json()}

    def set_shared(self, device_id: str, values: dict[str, Any]) -> None:
        response = self.http.post(
            f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", json=values
        )
        response.raise_for_status()

    def rpc(self, device_id: str, method: str, params: Any) -> httpx.Response:
        body = {"method": method, "params": params, "timeout": 5000}
        return self.http.post(f"/api/rpc/twoway/{device_id}", json=body)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(inactivity_timeout_s=2).run_in_thread() as emu:
        yield emu


@pytest.fixture
def rest(emulator: Emulator) -> Iterator[Rest]:
    client = Rest(emulator.http_url)
    yield client
    client.close()


@pytest.fixture
def world() -> World:
    world = World(join_delay_s=0.05)
    world.add(SSID, WIFI_PASSWORD)
    world.add("open-cafe", "")
    return world


@pytest.fixture
def fleet(emulator: Emulator, world: World) -> Iterator[Fleet]:
    with Fleet(
        world, mqtt_port=emulator.mqtt_port, settings=dict(FAST), ack_timeout_s=1.0, connect_timeout_s=1.0
    ) as fleet:
        yield fleet


@pytest.fixture
def device(fleet: Fleet) -> SimDevice:
    return fleet.spawn(1)[0]


def config(token: str, **extra: Any) -> dict[str, Any]:
    body = {
        "ssid": SSID,
        "password": WIFI_PASSWORD,
        "pairKey": "pk-" + uuid.uuid4().hex,
        "ownerKey": "owner-" + uuid.uuid4().hex,
        "accessToken": token,
    }
    body.update(extra)
    return body


def status(device: SimDevice) -> dict[str, Any]:
    response = httpx.get(device.local_url + "/config/current-status", timeout=5)
    assert response.status_code == 200
    return dict(response.json())


def settled(device: SimDevice, within: float = 10.0) -> dict[str, Any]:
    """The status once the attempt has ended (4, 5 or 6)."""

    def done() -> dict[str, Any] | None:
        current = status(device)
        return current if current["statusCode"] >= 4 else None

    return dict(eventually(done, within))


class StubGateway(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.claims: list[dict[str, Any]] = []
        self.ingested: list[tuple[str, dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: StubGateway

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/gateway/devices/claim":
            if body.get("token") != "one-time-token":
                self._answer(400, {"detail": "invalid token"})
                return
            self.server.claims.append(body)
            ingest = self.server.url + "/gateway/device-data/ingest"
            self._answer(
                200, {"device_id": 1, "api_key": "api-key-1", "ingest_url": ingest, "token_expires_at": None}
            )
        elif self.path == "/gateway/device-data/ingest":
            self.server.ingested.append((self.headers.get("Authorization", ""), body))
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {})

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def gateway() -> Iterator[StubGateway]:
    server = StubGateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
