"""Starting and stopping: the CLI, the in-process runners, a busy port."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest

from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from pathlib import Path


def test_cli_serves_and_persists(tmp_path: Path) -> None:
    data = tmp_path / "cli.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "thingsboard_emulator",
        "--http-port",
        "0",
        "--mqtt-port",
        "0",
        "--data",
        str(data),
    ]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            _check_serving(proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
    assert data.exists()


def _check_serving(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded by the test timeout; the CLI prints once it listens
    match = re.search(r"http=(http://[\d.]+:\d+) ws=ws://[\d.]+:\d+ mqtt=[\d.]+:(\d+)", line)
    assert match, line
    url = match.group(1)
    assert int(match.group(2)) > 0
    health = httpx.get(f"{url}/__emulator/health", timeout=5).json()
    assert health["status"] == "UP"
    login = httpx.post(
        f"{url}/api/auth/login", json={"username": "sysadmin@thingsboard.org", "password": "sysadmin"}
    )
    assert login.status_code == 200


async def test_busy_port_fails_start_cleanly(emulator: Emulator) -> None:
    with pytest.raises(OSError):
        await Emulator(http_port=emulator.http_port).start()
    # The first one is unaffected.
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        assert (await client.get("/__emulator/health")).status_code == 200


def test_thread_runner_reports_ports_and_stops() -> None:
    emu = Emulator()
    with emu.run_in_thread() as running:
        assert running.http_port > 0
        assert running.http_url == f"http://127.0.0.1:{running.http_port}"
        assert running.ws_url == f"ws://127.0.0.1:{running.http_port}"
        assert httpx.get(f"{running.http_url}/__emulator/health").json()["httpPort"] == running.http_port
        url = running.http_url
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/__emulator/health", timeout=2)
