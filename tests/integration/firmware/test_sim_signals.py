"""``python -m firmware.sim`` stops promptly on SIGTERM and SIGINT whatever its devices are doing,
including retrying a broker that is gone (it used to stop devices one by one, each finishing its connect
attempt while the others kept retrying)."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.integration.firmware.conftest import eventually

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.firmware.conftest import Rest
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

EXIT_WITHIN_S = 5.0
NETWORK = "lab:lab-password-1"


class Sim:
    """The simulator as a subprocess with ``--json``; ``urls`` are its devices' local APIs."""

    def __init__(self, *args: str, count: int = 1) -> None:
        argv = [sys.executable, "-m", "firmware.sim", "--json", "--count", str(count), "--network", NETWORK]
        self.process = subprocess.Popen(
            [*argv, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(self.process.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + 30
        self.urls: list[str] = []
        while len(self.urls) < count:
            assert self.process.poll() is None, self.stderr()
            assert time.monotonic() < deadline, "the simulator listed no devices in time"
            try:
                self.urls.append(json.loads(lines.get(timeout=0.5))["url"])
            except queue.Empty:
                continue

    def stop_with(self, signum: int) -> tuple[int, float]:
        """Send ``signum``; the exit code and how long the exit took."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=EXIT_WITHIN_S)
        except subprocess.TimeoutExpired:
            return -1, time.monotonic() - sent
        return code, time.monotonic() - sent

    def stderr(self) -> str:
        return self.process.stderr.read() if self.process.stderr and self.process.poll() is not None else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _pump(stream: Any, sink: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)


def paired_state(tmp_path: Path, count: int, token: str = "no-such-token") -> str:
    """A state directory of devices that were paired before: they boot straight into operating."""
    ssid, _, password = NETWORK.partition(":")
    for index in range(count):
        saved = {"ssid": ssid, "password": password, "accessToken": token, "telemetryInterval": 0.2}
        (tmp_path / f"device-{index}.json").write_text(json.dumps(saved), encoding="utf-8")
    return str(tmp_path)


def closed_port() -> socket.socket:
    """A port bound but not listening: connecting to it is refused, and nobody else can take it."""
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))
    return reserved


@pytest.fixture
def silent_broker() -> Iterator[socket.socket]:
    """A broker that accepts connections and never answers: every connect waits for its CONNACK timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener


def assert_stops(sim: Sim, signum: int) -> None:
    try:
        code, took = sim.stop_with(signum)
        assert code == 0, f"exit {code} after {took:.1f}s:\n{sim.stderr()}"
        assert took < EXIT_WITHIN_S
    finally:
        sim.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stops_while_retrying_a_broker_that_refuses(tmp_path: Path, signum: int) -> None:
    with closed_port() as reserved:
        port = reserved.getsockname()[1]
        sim = Sim("--mqtt-port", str(port), "--state-dir", paired_state(tmp_path, 1))
        assert httpx.get(sim.urls[0] + "/info", timeout=5).json()["paired"] is True
        assert_stops(sim, signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_fleet_stops_while_waiting_on_a_broker_that_never_answers(
    tmp_path: Path, silent_broker: socket.socket, signum: int
) -> None:
    count = 4
    port = silent_broker.getsockname()[1]
    # Five-second CONNACK waits: stopped one at a time, these devices took several times that to exit.
    sim = Sim("--mqtt-port", str(port), "--state-dir", paired_state(tmp_path, count), count=count)
    accepted = []
    silent_broker.settimeout(10)
    try:
        while len(accepted) < count:  # every device is now mid-connect
            accepted.append(silent_broker.accept()[0])
        assert_stops(sim, signum)
    finally:
        for connection in accepted:
            connection.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stops_in_setup_mode(signum: int) -> None:
    sim = Sim("--mqtt-port", "1")
    assert httpx.get(sim.urls[0] + "/info", timeout=5).json()["paired"] is False
    assert_stops(sim, signum)


def test_stops_while_connected(tmp_path: Path, emulator: Emulator, rest: Rest) -> None:
    device_id, _, token = rest.create_device(f"sig-{uuid.uuid4().hex[:8]}")
    state = paired_state(tmp_path, 1, token)
    sim = Sim("--mqtt-port", str(emulator.mqtt_port), "--state-dir", state)
    try:
        eventually(lambda: rest.latest(device_id, "uptime").get("uptime"), 20)
    except BaseException:
        sim.kill()
        raise
    assert_stops(sim, signal.SIGTERM)


def test_a_second_signal_ends_a_slow_shutdown_at_once(tmp_path: Path) -> None:
    with closed_port() as reserved:
        sim = Sim("--mqtt-port", str(reserved.getsockname()[1]), "--state-dir", paired_state(tmp_path, 1))
        try:
            sim.process.send_signal(signal.SIGTERM)
            sim.process.send_signal(signal.SIGINT)
            code = sim.process.wait(timeout=EXIT_WITHIN_S)
        finally:
            sim.kill()
    # Either the first signal's clean exit won the race, or the second one cut it short.
    assert code in {0, 128 + signal.SIGINT, 128 + signal.SIGTERM}
