"""Schemathesis over the whole served OpenAPI document: the document is exact, and no input reaches a 500.

petit runs under uvicorn on a loopback port (its own thread and loop) with the ThingsBoard emulator, on this
test's database backend and a Redis prefix of its own. Schemathesis runs as its CLI does (examples, coverage,
fuzzing and stateful phases, every check), seeded and bounded, and must report no failure.

Random ids only reach "not found", so the run is given real ones (``tests/contract/schemathesis.toml`` binds
them by operation; :func:`_world` makes them):

* a signed-up user whose bearer token goes with every request;
* ``main``, the user's device, connected over MQTT and answering every command (device reads, settings,
  commands, telemetry, shares, transfer offers and gateway reads use it);
* one device each for DeleteDevice, ReleaseDevice, RotateDeviceCredentials and IssueProvisioningToken (whose
  tokens the run claims), which end or re-key it;
* a gateway API key (IngestDeviceData), from a provisioning token claimed for a device of its own;
* from a second user: two shares offered to the first (AcceptShare, DeclineShare), a transfer offer
  (AcceptTransfer); and a share of ``main`` to the second user (UpdateDeviceShare, RevokeDeviceShare).

Left out, and where their success paths are tested instead:

* ``POST /auth/logout``: it would revoke the very token the run uses (tests/integration/auth).
* ``GET /devices/stream``: a valid request opens an event stream that stays open (each case would wait for the
  client's timeout); tests/integration/realtime covers it.
* ClaimDevice, ClaimProvisioningToken, ProvisionDevice, AllowReprovision and the compat login: they take
  secrets (claim codes, provisioning tokens, device secrets, passwords) a generator cannot guess, so here they
  are exercised with wrong ones; tests/integration/pairing, gateway, provisioning and auth cover success.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import uvicorn

from petit.app import create_app
from tests.emulated import thingsboard_settings
from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from litestar import Litestar

    from petit.settings import Settings

#: The run is bounded by schemathesis' own --max-time; the rest is start-up, fixtures and shutdown.
pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]

#: Bounded and seeded: the same cases in the same order every run (how far it gets depends on the time).
MAX_EXAMPLES = 10
#: Per backend; on an idle machine every phase finishes in about this long.
MAX_TIME_S = 100
SEED = 20261201
EXCLUDED_PATHS = ["/auth/logout", "/devices/stream"]
#: Per-operation exceptions, each with the rule the document cannot state.
CONFIG = Path(__file__).with_name("schemathesis.toml")


class _Server:
    """petit under uvicorn on its own thread and loop, on an OS-chosen loopback port."""

    def __init__(self, app: Litestar) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="petit-schemathesis", daemon=True)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        config.load()
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> _Server:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.startup(sockets=[self._sock]), self._loop).result(30)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(30)
        self._sock.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator().run_in_thread() as running:
        yield running


@pytest.fixture
def petit_url(make_settings: Callable[..., Settings], emulator: Emulator) -> Iterator[str]:
    settings = make_settings(thingsboard=thingsboard_settings(emulator))
    with _Server(create_app(settings)) as server:
        yield server.url


class _AnsweringDevice:
    """A device on the emulator's MQTT that answers every command at once, and has reported telemetry."""

    def __init__(self, port: int, token: str) -> None:
        self._ready = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        self._client.username_pw_set(token)
        self._client.on_connect = lambda client, *_: client.subscribe("v1/devices/me/rpc/request/+", qos=1)
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = self._answer
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._ready.wait(10), "the device did not subscribe to commands"
        info = self._client.publish(
            "v1/devices/me/telemetry", json.dumps({"temperature": 21.5, "on": True}), 1
        )
        info.wait_for_publish(5)

    @staticmethod
    def _answer(client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        request_id = message.topic.rsplit("/", 1)[1]
        client.publish(f"v1/devices/me/rpc/response/{request_id}", json.dumps({"ok": True}), qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class _User:
    def __init__(self, http: httpx.Client, tag: str) -> None:
        self.email, password = f"{tag}-{uuid.uuid4().hex[:12]}@example.com", secrets.token_urlsafe(16)
        http.post("/auth/signup", json={"email": self.email, "password": password}).raise_for_status()
        login = http.post("/auth/login", json={"email": self.email, "password": password})
        login.raise_for_status()
        self.token = str(login.json()["accessToken"])
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self._http = http

    def post(self, path: str, body: object, status: int = 201) -> dict[str, Any]:
        response = self._http.post(path, json=body, headers=self.headers)
        assert response.status_code == status, (path, response.text)
        return dict(response.json())

    def device(self, name: str) -> str:
        return str(self.post("/devices", {"name": name})["id"])


@pytest.fixture
def world(petit_url: str, emulator: Emulator) -> Iterator[dict[str, str]]:
    """Real ids and secrets for the operations that need them, as schemathesis.toml's variables."""
    with httpx.Client(base_url=petit_url, timeout=20) as http:
        user, other = _User(http, "st"), _User(http, "st-other")
        main = user.device("st-main")
        credentials = http.get(f"/devices/{main}/credentials", headers=user.headers)
        credentials.raise_for_status()
        device = _AnsweringDevice(emulator.mqtt_port, credentials.json()["accessToken"])
        gateway = user.device("st-gateway")
        token = user.post(f"/gateway/devices/{gateway}/provision", {})["token"]
        api_key = user.post("/gateway/devices/claim", {"token": token}, status=200)["api_key"]
        shares = [
            other.post(
                f"/devices/{other.device(f'st-shared-{n}')}/shares", {"email": user.email, "role": "member"}
            )
            for n in (1, 2)
        ]
        gift = other.device("st-gift")
        transfer = other.post(f"/devices/{gift}/transfer", {"email": user.email}, status=202)
        share_of_main = user.post(f"/devices/{main}/shares", {"email": other.email, "role": "viewer"})
        yield {
            "PETIT_ST_TOKEN": user.token,
            "PETIT_ST_DEVICE": main,
            "PETIT_ST_DEVICE_TO_DELETE": user.device("st-delete"),
            "PETIT_ST_DEVICE_TO_RELEASE": user.device("st-release"),
            "PETIT_ST_DEVICE_TO_REKEY": user.device("st-rekey"),
            "PETIT_ST_DEVICE_TO_PROVISION": user.device("st-provision"),
            "PETIT_ST_SHARE": str(share_of_main["id"]),
            "PETIT_ST_SHARE_TO_ACCEPT": str(shares[0]["id"]),
            "PETIT_ST_SHARE_TO_DECLINE": str(shares[1]["id"]),
            "PETIT_ST_TRANSFER": str(transfer["id"]),
            "PETIT_ST_API_KEY": str(api_key),
        }
        device.close()


def test_schemathesis_finds_nothing(petit_url: str, world: dict[str, str], tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "--config-file",
        str(CONFIG),
        "run",
        f"{petit_url}/schema/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # petit documents that text is UTF-8 without NUL (PostgreSQL cannot store either): see jsonguard.
        "--generation-codec",
        "utf-8",
        "--generation-allow-x00",
        "false",
        "--request-timeout",
        "5",
        "--max-time",
        str(MAX_TIME_S),
        "--no-color",
        "--report-dir",
        str(tmp_path),
        *(arg for path in EXCLUDED_PATHS for arg in ("--exclude-path", path)),
    ]
    started = time.monotonic()
    result = subprocess.run(  # a list of arguments, no shell
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={**os.environ, **world, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
    )
    elapsed = time.monotonic() - started
    (tmp_path / "schemathesis.txt").write_text(result.stdout)
    lines = result.stdout.splitlines()
    # From the warnings on: which operations it could not reach, and the case count.
    start = next((i for i, line in enumerate(lines) if "= WARNINGS =" in line), max(0, len(lines) - 40))
    summary = "\n".join(lines[start:][:150])
    print(f"schemathesis: {elapsed:.1f} s\n{summary}")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-2000:]
