"""The ``petit`` console script: migrations, refusal to start unsafely, and the README's `petit dev`."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETIT_")}
    env.update(extra)
    return env


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


def test_db_upgrade_applies_migrations_on_postgresql(make_database: Any, run_sync: Any) -> None:
    url = make_database("petit_cli")
    runner = CliRunner()
    result = runner.invoke(
        main, ["db", "upgrade"], env={"PETIT_ENVIRONMENT": "development", "PETIT_DB__URL": url}
    )
    assert result.exit_code == 0, result.output
    assert {"users", "refresh_tokens", "alembic_version"} <= run_sync(lambda: table_names(url))

    result = runner.invoke(
        main, ["db", "downgrade", "base"], env={"PETIT_ENVIRONMENT": "development", "PETIT_DB__URL": url}
    )
    assert result.exit_code == 0, result.output
    assert run_sync(lambda: table_names(url)) == {"alembic_version"}


def test_run_refuses_the_placeholder_secret_in_production() -> None:
    result = CliRunner().invoke(
        main, ["run", "--port", "0"], env={"PETIT_ENVIRONMENT": "production", "PETIT_AUTH__JWT_SECRET": ""}
    )
    assert result.exit_code != 0
    assert "JWT_SECRET" in result.output
    assert "Traceback" not in result.output


def test_openapi_check_passes_on_the_committed_document() -> None:
    result = CliRunner().invoke(main, ["openapi", "--check"])
    assert result.exit_code == 0, result.output


def _lines(stream: Any, sink: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)


class DevServer:
    """``petit dev`` as a subprocess in ``cwd``, its banner read up to the ThingsBoard line."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "petit", "dev", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=cwd,
            env=env or clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=_lines, args=(self.process.stdout, self.output), daemon=True)
        self.reader.start()
        self.seen: list[str] = []

    def banner(self, deadline: float, last: str = "ThingsBoard") -> str:
        """The output up to the line holding ``last`` (by default the ThingsBoard line, the banner's)."""
        while not any(last in line for line in self.seen) and time.monotonic() < deadline:
            assert self.process.poll() is None, "".join(self.seen)
            try:
                self.seen.append(self.output.get(timeout=0.5))
            except queue.Empty:
                continue
        printed = "".join(self.seen)
        assert last in printed, f"petit dev printed no {last!r} line:\n{printed}"
        return printed

    def wait_live(self, base_url: str, deadline: float) -> None:
        with httpx.Client(base_url=base_url, timeout=5) as http:
            while True:
                try:
                    if http.get("/health/live").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "".join(self.seen)
                time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or a process manager would; the exit code."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)  # EOF once the process is gone
        assert self.process.stdout is not None
        self.process.stdout.close()
        return self.process.returncode


def api_url(banner: str) -> str:
    match = re.search(r"API\s+(http://\S+)", banner)
    assert match, f"petit dev printed no API address:\n{banner}"
    return match.group(1)


def emulator_ports(banner: str) -> tuple[int, int]:
    match = re.search(r"REST http://127\.0\.0\.1:(\d+)\s+MQTT 127\.0\.0\.1:(\d+)", banner)
    assert match, f"petit dev printed no emulator ports:\n{banner}"
    return int(match.group(1)), int(match.group(2))


# Any free port, through the flags: parallel test workers must never meet on the fixed defaults.
ANY_EMULATOR_PORTS = ("--tb-http-port", "0", "--tb-mqtt-port", "0")


def test_petit_dev_serves_on_embedded_defaults(tmp_path: Path) -> None:
    server = DevServer(tmp_path, *ANY_EMULATOR_PORTS)
    try:
        deadline = time.monotonic() + 60
        printed = server.banner(deadline)
        base_url = api_url(printed)
        assert "sqlite" in printed
        assert "in-process" in printed
        assert re.search(r"ThingsBoard\s+emulator in-process: REST http://127\.0\.0\.1:\d+\s+MQTT", printed)

        server.wait_live(base_url, deadline)
        with httpx.Client(base_url=base_url, timeout=5) as http:
            ready = http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {name: check["status"] for name, check in checks.items()} == {
                "database": "ok",
                "redis": "ok",
                "thingsboard": "ok",
            }

            credentials = {"email": "dev@example.com", "password": "a-long-dev-password"}
            assert http.post("/auth/signup", json=credentials).status_code == 201
            assert http.post("/auth/login", json=credentials).status_code == 200
            assert http.get("/schema").status_code == 200
        assert (tmp_path / "var" / "petit.sqlite3").is_file()
        assert (tmp_path / "var" / "thingsboard-emulator.sqlite3").is_file()
    finally:
        server.stop()


def mqtt_connack(port: int, token: str, deadline: float) -> int:
    """Connect as a device would with its access token; the CONNACK reason (0: accepted)."""
    answered = threading.Event()
    reasons: list[int] = []

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        reasons.append(int(reason.value))
        answered.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"restart-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(token)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(max(0.0, deadline - time.monotonic())), "no CONNACK"
        return reasons[0]
    finally:
        client.disconnect()
        client.loop_stop()


@contextlib.contextmanager
def tenant(http_url: str) -> Iterator[httpx.Client]:
    """The emulator's REST API as its tenant admin (the login the banner prints)."""
    with httpx.Client(base_url=http_url, timeout=10) as http:
        credentials = {"username": "tenant@thingsboard.org", "password": "tenant"}
        login = http.post("/api/auth/login", json=credentials)
        login.raise_for_status()
        http.headers["X-Authorization"] = f"Bearer {login.json()['token']}"
        yield http


def test_petit_dev_restarts_on_the_same_emulator_ports_with_its_data(tmp_path: Path) -> None:
    """A paired device holds the emulator's MQTT address: after a restart it must still connect there."""
    deadline = time.monotonic() + 90
    credentials = {"email": "restart@example.com", "password": "a-long-dev-password"}

    first = DevServer(tmp_path, *ANY_EMULATOR_PORTS)
    try:
        banner = first.banner(deadline, last="ports kept in var/thingsboard-emulator.ports.json")
        http_port, mqtt_port = emulator_ports(banner)
        base_url = api_url(banner)
        first.wait_live(base_url, deadline)
        with httpx.Client(base_url=base_url, timeout=5) as http:
            assert http.post("/auth/signup", json=credentials).status_code == 201
        token = uuid.uuid4().hex[:20]
        with tenant(f"http://127.0.0.1:{http_port}") as tb:
            created = tb.post("/api/device", params={"accessToken": token}, json={"name": f"r-{token[:8]}"})
            created.raise_for_status()
            device_id = created.json()["id"]["id"]
        assert mqtt_connack(mqtt_port, token, deadline) == 0
    finally:
        assert first.stop() == 0, "".join(first.seen)
    remembered = json.loads(
        (tmp_path / "var" / "thingsboard-emulator.ports.json").read_text(encoding="utf-8")
    )
    assert remembered == {"http": http_port, "mqtt": mqtt_port}

    # No flags this time: what the first run chose is what a plain `make dev` must come back on.
    second = DevServer(tmp_path)
    try:
        banner = second.banner(deadline)
        assert emulator_ports(banner) == (http_port, mqtt_port)
        base_url = api_url(banner)
        second.wait_live(base_url, deadline)
        with httpx.Client(base_url=base_url, timeout=5) as http:
            assert http.post("/auth/login", json=credentials).status_code == 200
        with tenant(f"http://127.0.0.1:{http_port}") as tb:
            assert tb.get(f"/api/device/{device_id}").status_code == 200
        assert mqtt_connack(mqtt_port, token, deadline) == 0
    finally:
        assert second.stop() == 0, "".join(second.seen)


def test_petit_dev_refuses_to_move_off_a_taken_remembered_port(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        ports_file = tmp_path / "var" / "thingsboard-emulator.ports.json"
        ports_file.parent.mkdir()
        ports_file.write_text(json.dumps({"http": free, "mqtt": taken}), encoding="utf-8")

        result = subprocess.run(
            [sys.executable, "-m", "petit", "dev", "--port", "0"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"MQTT port {taken}" in result.stderr
    assert "--tb-mqtt-port" in result.stderr
    assert "Traceback" not in result.stderr
    # Refusing must not rewrite what paired devices rely on.
    assert json.loads(ports_file.read_text(encoding="utf-8")) == {"http": free, "mqtt": taken}
