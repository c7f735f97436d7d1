"""App-assisted pairing through all four parts, and the failures a user sees while pairing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from porto_contract.client import PairingFailedError, ProblemError, pair_device
from porto_contract.client.models import ConfigData
from tests.e2e.conftest import SSID, WIFI_PASSWORD, eventually, settled

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def test_pairing_completes_and_the_app_reads_data_and_commands_the_device(stack: Stack) -> None:
    porto, _, _ = stack.user()
    sim = stack.device()
    progress: list[str] = []
    with stack.local(sim) as local:
        assert local.info().mac == sim.identity["mac"]
        assert SSID in {network.ssid for network in local.scan()}
        done = pair_device(
            porto, local, name="Kitchen lamp", ssid=SSID, password=WIFI_PASSWORD, on_progress=progress.append
        )
        assert local.status().status_code == 4
    assert done.state == "completed"
    assert done.device_id is not None
    assert any("completed" in line for line in progress)
    page = porto.list_devices()
    assert [(d.id, d.name) for d in page.items] == [(done.device_id, "Kitchen lamp")]

    # The paired device reports on its schedule; the app reads it through petit.
    latest = eventually(
        lambda: (t := porto.latest_telemetry(done.device_id, ["temperature"])).values["temperature"] and t,
        what="first temperature reading",
    )
    assert isinstance(latest.values["temperature"].value, float | int)
    history = porto.telemetry_history(done.device_id, ["temperature"], limit=5)
    assert history.series["temperature"]

    # A command reaches the device's RPC handler and its reply comes back.
    result = porto.send_command(done.device_id, "getStatus", {})
    assert result.mode == "twoway"
    assert result.response is not None


def reserved_devices(stack: Stack) -> list[str]:
    """Names of the emulator's devices that a pairing reserved (``petit-pairing-…``)."""
    base = stack.emulator.http_url
    login = httpx.post(
        f"{base}/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}, timeout=5
    )
    page = httpx.get(
        f"{base}/api/tenant/devices",
        params={"pageSize": 1000, "page": 0, "textSearch": "petit-pairing-"},
        headers={"X-Authorization": f"Bearer {login.json()['token']}"},
        timeout=5,
    )
    return [d["name"] for d in page.json()["data"] if d["name"].startswith("petit-pairing-")]


def test_a_wrong_wifi_password_is_status_5_and_the_device_stays_in_setup(stack: Stack) -> None:
    porto, _, _ = stack.user()
    sim = stack.device()
    with stack.local(sim) as local:
        with pytest.raises(PairingFailedError) as failure:
            pair_device(porto, local, name="lamp", ssid=SSID, password="not-the-password", timeout_s=20)
        assert failure.value.reason == "WIFI_CONNECT_BAD_CREDENTIALS"
        assert failure.value.device_status is not None
        assert failure.value.device_status.status_code == 5
        # The failed attempt's reserved device is gone at once, not when the pairing would have expired.
        assert failure.value.pairing is not None
        assert porto.get_pairing(failure.value.pairing.id).state == "cancelled"
        assert reserved_devices(stack) == []
        # Seed 001 v2: still in setup with the access point up; the right password then pairs.
        assert local.status().title == "WIFI_CONNECT_BAD_CREDENTIALS"
        done = pair_device(porto, local, name="lamp", ssid=SSID, password=WIFI_PASSWORD, timeout_s=20)
    assert done.state == "completed"


def test_a_bad_token_is_status_6_mqtt_connect_bad_credentials(stack: Stack) -> None:
    porto, _, _ = stack.user()
    sim = stack.device()
    stack.world.bad_token = True
    with stack.local(sim) as local, pytest.raises(PairingFailedError) as failure:
        pair_device(porto, local, name="lamp", ssid=SSID, password=WIFI_PASSWORD, timeout_s=20)
    assert failure.value.reason == "MQTT_CONNECT_BAD_CREDENTIALS"
    assert failure.value.device_status is not None
    assert failure.value.device_status.status_code == 6
    assert failure.value.pairing is not None
    assert failure.value.pairing.state == "pending"


def test_an_expired_pairing_fails_and_its_token_no_longer_connects(stack: Stack) -> None:
    porto, _, _ = stack.user()
    started = porto.start_pairing(f"late-{uuid.uuid4().hex[:6]}")
    stack.clock.offset = timedelta(minutes=11)  # past the 10-minute pairing TTL, within the token's 15
    expired = eventually(
        lambda: (p := porto.get_pairing(started.pairing_id)).state == "expired" and p, what="pairing expired"
    )
    assert expired.device_id is None
    # The user configures the device too late: the reserved device is gone, so the broker refuses its token.
    sim = stack.device()
    with stack.local(sim) as local:
        local.configure(
            ConfigData(
                ssid=SSID,
                password=WIFI_PASSWORD,
                owner_key=started.owner_key,
                pair_key=started.pair_key,
                access_token=started.access_token,
                mqtt_host=started.mqtt_host,
                mqtt_port=started.mqtt_port,
            )
        )
        final = settled(local)
    assert (final.status_code, final.title) == (6, "MQTT_CONNECT_BAD_CREDENTIALS")
    assert porto.list_devices().total == 0


def test_bad_input_to_the_device_is_a_4xx_and_it_stays_in_setup(stack: Stack) -> None:
    sim = stack.device()
    with stack.local(sim) as local:
        with pytest.raises(ProblemError) as refused:
            local.configure(ConfigData(ssid="x" * 33, password=WIFI_PASSWORD, owner_key="owner-key-1"))
        assert 400 <= refused.value.status < 500
        assert refused.value.code == "out_of_range"
        assert local.status().status_code == 0


def test_petit_down_is_a_clear_error_for_the_app(stack: Stack) -> None:
    porto, _, _ = stack.user()
    stack.petit.stop()
    with pytest.raises(httpx.ConnectError):
        porto.start_pairing("lamp")
