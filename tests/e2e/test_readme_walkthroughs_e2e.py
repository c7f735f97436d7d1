"""README's walkthroughs, run the way a newcomer runs them: `porto` and `python -m firmware.sim` (plain or
`--factory`) as subprocesses, against petit and the ThingsBoard emulator.

Each test follows one README section command for command; only the addresses differ (OS-chosen ports here,
`make dev`'s in the README). tests/unit/test_readme_commands.py keeps README's porto commands and flags real.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import SSID, WIFI_PASSWORD, eventually
from tests.e2e.test_porto_cli_e2e import porto

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


@contextmanager
def simulator(stack: Stack, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`python -m firmware.sim ARGS` until the test ends; yields the device's local URL."""
    command = [
        sys.executable, "-m", "firmware.sim", "--network", f"{SSID}:{WIFI_PASSWORD}",
        "--telemetry-interval", "0.5", "--tb-url", stack.emulator.http_url,
        "--mqtt-port", str(stack.emulator.mqtt_port), *args,
    ]  # fmt: skip
    # The simulator's own lines go to a file: a pipe nobody reads would fill up and stall it.
    with (
        tempfile.TemporaryFile(mode="w+") as log,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **(env or {})}
        ) as process,
    ):
        try:
            yield _device_url(process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _device_url(process: subprocess.Popen[str], log: IO[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"the simulator printed no device line: {log.read()}")
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            line = process.stdout.readline().strip()
            if line:
                # "<deviceId>  <mac>  <local URL>", as README shows it.
                return line.split()[-1]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def signed_up(stack: Stack, home: Path) -> None:
    email = f"ada-{uuid.uuid4().hex[:10]}@example.com"
    ok(porto(stack, home, "signup", "--email", email, "--password", PASSWORD))


def test_readme_pair_then_look_after_the_device(stack: Stack, tmp_path: Path) -> None:
    signed_up(stack, tmp_path)
    with simulator(stack) as device:
        paired = as_json(
            porto(
                stack, tmp_path, "pair", "--device", device, "--name", "Kitchen lamp",
                "--ssid", SSID, "--wifi-password", WIFI_PASSWORD, "--json",
            )
        )  # fmt: skip
        device_id = paired["deviceId"]
        listed = as_json(porto(stack, tmp_path, "devices", "list", "--json"))
        assert [d["id"] for d in listed["items"]] == [device_id]

        latest = eventually(
            lambda: (
                (r := porto(stack, tmp_path, "telemetry", "latest", device_id)).returncode == 0
                and json.loads(r.stdout).get("uptime")
                and r
            ),
            what="telemetry",
        )
        assert json.loads(latest.stdout)["uptime"]["value"] >= 0
        eventually(
            lambda: (
                len(as_json(porto(stack, tmp_path, "telemetry", "history", device_id, "--json"))["uptime"])
                >= 3
            ),
            what="three uptime readings",
        )
        # No --keys: every key the device reported, each plotted and listed.
        history = ok(porto(stack, tmp_path, "telemetry", "history", device_id))
        assert "uptime: " in history
        assert "temperature: " in history
        assert any(ch in history for ch in "▁▂▃▄▅▆▇█")

        answered = as_json(porto(stack, tmp_path, "command", device_id, "setLed", "--params", "true"))
        assert answered["response"] == {"led": True}
        refused = porto(stack, tmp_path, "command", device_id, "fly")
        assert refused.returncode == 1
        assert "the device answered an error: unknown method 'fly'" in refused.stderr

        renamed = as_json(porto(stack, tmp_path, "devices", "rename", device_id, "Desk lamp", "--json"))
        assert renamed["name"] == "Desk lamp"
        settings = as_json(
            porto(stack, tmp_path, "settings", "set", device_id, "telemetryInterval=5", "--json")
        )
        assert settings["values"]["telemetryInterval"] == 5
        events = as_json(porto(stack, tmp_path, "devices", "events", device_id, "--json"))
        assert {(e["flow"], e["outcome"]) for e in events["items"]} >= {("pairing", "succeeded")}

        followed = ok(porto(stack, tmp_path, "follow", "--count", "3", "--timeout", "20"))
        assert [json.loads(line)["type"] for line in followed.splitlines()] == ["deviceData"] * 3

        ok(porto(stack, tmp_path, "devices", "release", device_id))
        assert as_json(porto(stack, tmp_path, "devices", "list", "--json"))["items"] == []


def test_readme_claim_a_factory_made_device_with_a_claim_code(stack: Stack, tmp_path: Path) -> None:
    signed_up(stack, tmp_path)
    with simulator(stack, "--factory") as device:
        claimed = porto(
            stack, tmp_path, "claim-device", "--device", device, "--ssid", SSID,
            "--wifi-password", WIFI_PASSWORD, "--name", "Hall sensor",
        )  # fmt: skip
        out = ok(claimed)
        assert "claim code " in out
        assert "device: 4 " in out
        device_id = out.strip().splitlines()[-1].split()[2]
        assert out.strip().endswith(f"claimed: device {device_id} (Hall sensor)")
        eventually(
            lambda: as_json(porto(stack, tmp_path, "telemetry", "latest", device_id)).get("temperature"),
            what="the claimed device's telemetry",
        )
    events = as_json(porto(stack, tmp_path, "devices", "events", device_id, "--json"))
    assert ("claim", "succeeded") in {(e["flow"], e["outcome"]) for e in events["items"]}


def test_readme_mac_provisioning_then_claim(stack: Stack, tmp_path: Path) -> None:
    signed_up(stack, tmp_path)
    keys = {
        "PETIT_PROVISIONING__DEVICE_KEY": stack.provision_keys["device_key"],
        "PETIT_PROVISIONING__DEVICE_SECRET": stack.provision_keys["device_secret"],
    }
    with simulator(stack, "--factory", "mac", env=keys) as device:
        claimed = as_json(
            porto(
                stack, tmp_path, "claim-device", "--device", device, "--ssid", SSID,
                "--wifi-password", WIFI_PASSWORD, "--name", "Porch light", "--json",
            )
        )  # fmt: skip
        assert claimed["name"] == "Porch light"
        eventually(
            lambda: as_json(porto(stack, tmp_path, "telemetry", "latest", claimed["id"])).get("uptime"),
            what="the provisioned device's telemetry",
        )
    # It registered through ThingsBoard's own provisioning, not petit's POST /provisioning/devices: there
    # is no MAC record for petit to re-open, and porto says so with a non-zero exit.
    approval = porto(stack, tmp_path, "devices", "allow-reprovision", claimed["id"])
    assert approval.returncode == 1
    assert approval.stderr.startswith("Error: 4")


def test_readme_a_device_joins_through_the_gateway(stack: Stack, tmp_path: Path) -> None:
    signed_up(stack, tmp_path)
    with simulator(stack) as device:
        connected = porto(
            stack, tmp_path, "gateway", "connect", "--device", device, "--name", "Water meter",
            "--ssid", SSID, "--wifi-password", WIFI_PASSWORD,
        )  # fmt: skip
        out = ok(connected)
        assert "provisioning token issued" in out
        assert "petit: token claimed from 127.0.0.1" in out
        device_id = out.strip().splitlines()[-1].split()[2]
        claims = as_json(porto(stack, tmp_path, "gateway", "claims", device_id, "--json"))
        assert len(claims["items"]) == 1
        assert claims["items"][0]["device_metadata"]["mac"]
        latest = eventually(
            lambda: (
                (d := as_json(porto(stack, tmp_path, "gateway", "latest", device_id, "--json")))["payload"]
                and d
            ),
            what="data through the gateway",
        )
        assert "temperature" in latest["payload"]
    # A second token for the same device, e.g. after a factory reset.
    again = as_json(
        porto(stack, tmp_path, "gateway", "token", device_id, "--lifetime-minutes", "30", "--json")
    )
    assert again["token"]
