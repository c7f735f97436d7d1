"""The other ownership flows of the pairing issue through all four parts: claim codes, MAC
self-provisioning, and seed 004's provisioning token with telemetry over petit's real HTTP gateway."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from porto_contract.client import ProblemError
from porto_contract.client.models import ConfigData
from tests.e2e.conftest import SSID, WIFI_PASSWORD, eventually, settled

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

OWNER_KEY = "owner-key-e2e-1"


def test_a_pre_provisioned_device_is_claimed_with_a_claim_code(stack: Stack) -> None:
    porto, _, _ = stack.user()
    name, token = stack.admin.create_device()
    code = porto.create_claim_code()
    sim = stack.device()
    with stack.local(sim) as local:
        local.configure(
            ConfigData(
                ssid=SSID,
                password=WIFI_PASSWORD,
                owner_key=OWNER_KEY,
                access_token=token,
                claim_secret=code.claim_code,
                claim_duration_ms=600_000,
            )
        )
        assert settled(local).status_code == 4
    device = porto.claim_device(name, code.claim_code)
    assert [d.id for d in porto.list_devices().items] == [device.id]
    eventually(lambda: porto.latest_telemetry(device.id, ["uptime"]).values["uptime"], what="telemetry")
    # Single use: nobody claims with the same code again.
    other, _, _ = stack.user()
    with pytest.raises(ProblemError) as again:
        other.claim_device(name, code.claim_code)
    assert 400 <= again.value.status < 500


def test_a_device_self_provisions_by_mac_then_its_owner_claims_it(stack: Stack) -> None:
    porto, _, _ = stack.user()
    code = porto.create_claim_code()
    sim = stack.device()
    device_name = sim.identity["mac"].replace(":", "")
    with stack.local(sim) as local:
        local.configure(
            ConfigData(
                ssid=SSID,
                password=WIFI_PASSWORD,
                owner_key=OWNER_KEY,
                provision_device_key=stack.provision_keys["device_key"],
                provision_device_secret=stack.provision_keys["device_secret"],
                device_name=device_name,
                claim_secret=code.claim_code,
                claim_duration_ms=600_000,
            )
        )
        final = settled(local)
        assert final.status_code == 4, final
    device = porto.claim_device(device_name, code.claim_code)
    eventually(lambda: porto.latest_telemetry(device.id, ["temperature"]).values["temperature"], what="data")


def test_a_gateway_device_claims_its_token_and_ingests_over_petits_http_gateway(stack: Stack) -> None:
    porto, _, _ = stack.user()
    device = porto.create_device(f"meter-{uuid.uuid4().hex[:6]}")
    issued = porto.issue_provisioning_token(device.id, notes="e2e")
    sim = stack.device()
    with stack.local(sim) as local:
        local.configure(
            ConfigData(
                ssid=SSID,
                password=WIFI_PASSWORD,
                owner_key=OWNER_KEY,
                gateway_url=stack.url,
                gateway_token=issued.token,
            )
        )
        assert settled(local).status_code == 4
    latest = eventually(
        lambda: (
            (t := porto.latest_telemetry(device.id, ["temperature", "humidity"])).values["humidity"] and t
        ),
        what="ingested telemetry",
    )
    assert latest.values["temperature"] is not None


def test_petit_down_during_a_gateway_claim_is_status_6_server_error(stack: Stack) -> None:
    porto, _, _ = stack.user()
    device = porto.create_device(f"meter-{uuid.uuid4().hex[:6]}")
    issued = porto.issue_provisioning_token(device.id)
    stack.petit.stop()
    sim = stack.device()
    with stack.local(sim) as local:
        local.configure(
            ConfigData(
                ssid=SSID,
                password=WIFI_PASSWORD,
                owner_key=OWNER_KEY,
                gateway_url=stack.url,
                gateway_token=issued.token,
            )
        )
        final = settled(local)
    assert (final.status_code, final.title) == (6, "SERVER_ERROR")
    assert final.description == "ConnectError"


def test_an_unreachable_broker_is_status_6_with_pubsubclients_name(stack: Stack) -> None:
    porto, _, _ = stack.user()
    started = porto.start_pairing("lamp")
    stack.world.broker_unreachable = True
    sim = stack.device()
    with stack.local(sim) as local:
        local.configure(
            ConfigData(
                ssid=SSID,
                password=WIFI_PASSWORD,
                owner_key=started.owner_key,
                pair_key=started.pair_key,
                access_token=started.access_token,
            )
        )
        final = settled(local)
    assert (final.status_code, final.title) == (6, "MQTT_CONNECT_FAILED")
    assert porto.get_pairing(started.pairing_id).state == "pending"
