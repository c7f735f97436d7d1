"""``python -m firmware.sim`` as a newcomer runs it: devices come up on their own ports and pair."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.firmware.conftest import eventually

if TYPE_CHECKING:
    from tests.integration.firmware.conftest import Rest
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration


def test_cli_runs_a_small_fleet_that_pairs(emulator: Emulator, rest: Rest) -> None:
    argv = [
        sys.executable,
        "-m",
        "firmware.sim",
        "--count",
        "3",
        "--json",
        "--mqtt-port",
        str(emulator.mqtt_port),
    ]
    argv += ["--network", "lab:lab-password-1", "--telemetry-interval", "0.5"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(3)]
        assert len({line["url"] for line in lines}) == 3
        assert len({line["mac"] for line in lines}) == 3
        device_id, _, token = rest.create_device()
        url = lines[1]["url"]
        body = {
            "ssid": "lab",
            "password": "lab-password-1",
            "pairKey": "pk-" + uuid.uuid4().hex,
            "ownerKey": "owner-" + uuid.uuid4().hex,
            "accessToken": token,
        }
        assert httpx.post(url + "/config/data", json=body, timeout=5).status_code == 202
        eventually(lambda: httpx.get(url + "/config/current-status", timeout=5).json()["statusCode"] == 4, 20)
        eventually(lambda: rest.attributes(device_id, "CLIENT_SCOPE").get("mac") == lines[1]["mac"])
        assert httpx.get(lines[0]["url"] + "/info", timeout=5).json()["paired"] is False
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert process.returncode == 0
