"""`porto provision` as a user runs it: ESP-IDF provisioning (protocomm over the SoftAP HTTP transport) of
a simulated device, which then pairs with a real petit through the emulator and shows in `porto devices
list`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import SSID, WIFI_PASSWORD

if TYPE_CHECKING:
    from firmware.sim.fleet import SimDevice
    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

PORTO = str(Path(sys.executable).parent / "porto")
SEC1 = {"sec_ver": 1, "pop": "abcd1234", "limits": {"max_failures": 3, "lockout_s": 0.5}}


def porto(
    stack: Stack, home: Path, *args: str, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "PORTO_URL": stack.url}
    return subprocess.run(
        [PORTO, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def signed_up(stack: Stack, home: Path) -> None:
    email = f"prov-{uuid.uuid4().hex[:10]}@example.com"
    done = porto(stack, home, "signup", "--email", email, "--password", "cli-password-123")
    assert done.returncode == 0, done.stderr


def esp_device(stack: Stack, options: dict[str, object] | None = None) -> SimDevice:
    return stack.fleet.spawn(1, provisioning=options or SEC1)[0]


def test_porto_provision_sec1_pairs_the_device_and_lists_it(stack: Stack, tmp_path: Path) -> None:
    signed_up(stack, tmp_path)
    sim = esp_device(stack)
    done = porto(
        stack, tmp_path, "provision", "--pop", "abcd1234", "--transport", "softap", "--sec_ver", "1",
        "--service_name", f"127.0.0.1:{sim.port}", "--ssid", SSID, "--passphrase", WIFI_PASSWORD,
        "--name", "Porch light", "--timeout", "30",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[:6] == [
        f"Connecting to 127.0.0.1:{sim.port}",
        "Establishing session - Successful",
        "Sending user information to node - Successful",
        "Sending Wi-Fi credentials to node - Successful",
        "Applying Wi-Fi config to node - Successful",
        "Wi-Fi Provisioning Successful",
    ]
    assert lines[6].startswith("Pairing with petit - Successful: device ")
    device_id = lines[6].split()[6]
    listed = porto(stack, tmp_path, "devices", "list")
    assert f"{device_id}  Porch light" in listed.stdout


def test_auto_detect_scan_and_choose_like_the_seed(stack: Stack, tmp_path: Path) -> None:
    signed_up(stack, tmp_path)
    options = {"sec_ver": 2, "sec2_username": "wifiprov", "sec2_password": "abcd1234"}
    sim = esp_device(stack, options)
    done = porto(
        stack, tmp_path, "provision", "--pop", "abcd1234", "--service_name", f"127.0.0.1:{sim.port}",
        "--timeout", "30", stdin=f"1\n{WIFI_PASSWORD}\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in (
        "==== Auto-detected Security Scheme: 2 ====",
        "Establishing session - Successful",
        "Sending user information to node - Successful",
        "Scanning Wi-Fi AP's...",
        "Select the Wi-Fi network from the following list:",
        "S.N. SSID                              BSSID         CHN RSSI AUTH",
        "[ 3] Join another network",
        "Sending Wi-Fi credentials to node - Successful",
        "Applying Wi-Fi config to node - Successful",
        "Wi-Fi Provisioning Successful",
    ):
        assert line in out, out
    assert f"[ 1] {SSID:<33}" in out
    assert "Select AP by number (0 to rescan) : " in out
    # Hidden input: getpass prompts on the terminal, else on stderr.
    assert f"Enter passphrase for {SSID} : " in done.stderr
    assert "Pairing with petit - Successful" in out


def test_troubleshooting_cases_are_clear_errors(stack: Stack, tmp_path: Path) -> None:
    signed_up(stack, tmp_path)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    missing = porto(stack, tmp_path, "provision", "--pop", "abcd1234", "--service_name", f"127.0.0.1:{port}")
    assert missing.returncode == 1
    assert "device not found" in missing.stderr

    sim = esp_device(stack)
    service = f"127.0.0.1:{sim.port}"
    wrong_pop = porto(stack, tmp_path, "provision", "--pop", "wrong-pop", "--service_name", service)
    assert wrong_pop.returncode == 1
    assert "Establishing session - Failed" in wrong_pop.stdout
    assert "verify PoP" in wrong_pop.stderr

    wrong_wifi = porto(
        stack, tmp_path, "provision", "--pop", "abcd1234", "--service_name", service,
        "--ssid", SSID, "--passphrase", "wrong-password-1", "--timeout", "20",
    )  # fmt: skip
    assert wrong_wifi.returncode == 1, wrong_wifi.stdout
    assert "Wi-Fi connection failed: auth error" in wrong_wifi.stderr

    other = f"127.0.0.1:{esp_device(stack).port}"
    gone = porto(
        stack, tmp_path, "provision", "--pop", "abcd1234", "--service_name", other,
        "--ssid", "no-such-network", "--passphrase", "whatever-123", "--timeout", "20",
    )  # fmt: skip
    assert gone.returncode == 1, gone.stdout
    assert "Wi-Fi connection failed: network not found" in gone.stderr
