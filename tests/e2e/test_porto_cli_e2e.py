"""The `porto` CLI as a user runs it (a subprocess): a real petit, the emulator, a simulated device."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import SSID, WIFI_PASSWORD

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

PORTO = str(Path(sys.executable).parent / "porto")


def porto(
    stack: Stack, config_home: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home), "PORTO_URL": stack.url}
    return subprocess.run([PORTO, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_signup_pair_list_read_command_and_follow_with_the_cli(stack: Stack, tmp_path: Path) -> None:
    email = f"cli-{uuid.uuid4().hex[:10]}@example.com"
    signed = porto(stack, tmp_path, "signup", "--email", email, "--password", "cli-password-123")
    assert signed.returncode == 0, signed.stderr
    config = tmp_path / "porto" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text())["tokens"]["refreshToken"]

    sim = stack.device()
    paired = porto(
        stack, tmp_path, "pair", "--device", sim.local_url, "--name", "Desk lamp",
        "--ssid", SSID, "--wifi-password", WIFI_PASSWORD, "--timeout", "30",
    )  # fmt: skip
    assert paired.returncode == 0, paired.stderr
    assert "petit: completed" in paired.stdout
    device_id = paired.stdout.strip().splitlines()[-1].split()[2]
    assert paired.stdout.strip().endswith(f"paired: device {device_id} (Desk lamp)")

    listed = porto(stack, tmp_path, "devices", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{device_id}  Desk lamp" in listed.stdout

    followed = porto(stack, tmp_path, "follow", "--count", "1", "--timeout", "20")
    assert followed.returncode == 0, followed.stderr
    frame = json.loads(followed.stdout.splitlines()[0])
    assert frame["type"] == "deviceData"
    # /ws names devices by their ThingsBoard id today, not petit's: accept either, but only this device.
    platform_id = stack.admin.device_id(f"petit-{device_id}")
    assert frame["data"]["deviceId"] in {device_id, platform_id}
    assert frame["data"]["readings"]

    latest = porto(stack, tmp_path, "telemetry", "latest", device_id, "--keys", "uptime")
    assert latest.returncode == 0, latest.stderr
    assert json.loads(latest.stdout)["uptime"]["value"] >= 0

    answered = porto(stack, tmp_path, "command", device_id, "getState")
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["function"] == "getState"
    # The device answers an unknown function with an error object: a script must see it fail.
    refused = porto(stack, tmp_path, "command", device_id, "getStatus")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["response"]["error"] == "unknown method 'getStatus'"


def test_the_cli_shows_the_devices_error_title_when_pairing_fails(stack: Stack, tmp_path: Path) -> None:
    email = f"cli-{uuid.uuid4().hex[:10]}@example.com"
    assert (
        porto(stack, tmp_path, "signup", "--email", email, "--password", "cli-password-123").returncode == 0
    )
    sim = stack.device()
    failed = porto(
        stack, tmp_path, "pair", "--device", sim.local_url, "--name", "lamp",
        "--ssid", SSID, "--wifi-password", "wrong-password-1", "--timeout", "30",
    )  # fmt: skip
    assert failed.returncode == 1
    assert "pairing failed: WIFI_CONNECT_BAD_CREDENTIALS" in failed.stderr


def test_the_cli_refuses_without_login(stack: Stack, tmp_path: Path) -> None:
    listed = porto(stack, tmp_path, "devices", "list")
    assert listed.returncode == 1
    assert "porto login" in listed.stderr
