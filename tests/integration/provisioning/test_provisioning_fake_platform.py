"""Failures injected at exact steps (in-memory ThingsBoard, real PostgreSQL): nothing is left half-made."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from petit.app import create_app
from petit.settings import ProvisioningSettings
from petit.thingsboard.errors import ThingsBoardUnavailableError
from tests.fakes.thingsboard import FakeThingsBoard
from tests.integration.gateway.conftest import Gateway

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from petit.settings import Settings

pytestmark = pytest.mark.integration

KEYS = {"device_key": "fake-key", "device_secret": "fake-secret"}


@pytest.fixture
def fake() -> FakeThingsBoard:
    return FakeThingsBoard(mqtt_host="mqtt.petit.test", mqtt_port=18830)


@pytest.fixture
async def kit(
    settings: Settings, fake: FakeThingsBoard, database_url: str, serve: Any
) -> AsyncIterator[Gateway]:
    app = create_app(
        settings.model_copy(update={"provisioning": ProvisioningSettings.model_validate(KEYS)}),
        thingsboard=fake,
    )
    async with serve(app) as client:
        yield Gateway(client, app, None, database_url)  # type: ignore[arg-type]  # no emulator here


def provision_body(mac: str, **extra: Any) -> dict[str, Any]:
    return {
        "macAddress": mac,
        "provisionDeviceKey": KEYS["device_key"],
        "provisionDeviceSecret": KEYS["device_secret"],
        **extra,
    }


async def test_startup_sets_the_provisioning_profile_up(kit: Gateway, fake: FakeThingsBoard) -> None:
    assert fake.provisioning_profiles["petit-provisioning"] == (KEYS["device_key"], KEYS["device_secret"])


@pytest.mark.parametrize("step", ["get_credentials", "show_status"])
async def test_a_failure_after_creating_the_device_deletes_it(
    kit: Gateway, fake: FakeThingsBoard, step: str
) -> None:
    mac = secrets.token_hex(6).upper()
    fake.fail_next(step, ThingsBoardUnavailableError("down"))
    failed = await kit.client.post("/provisioning/devices", json=provision_body(mac))
    assert failed.status_code == 503, failed.text
    assert await fake.find_device(mac) is None
    assert await kit.sql("SELECT mac FROM provisioned_devices") == []
    ok = await kit.client.post("/provisioning/devices", json=provision_body(mac))
    assert ok.status_code == 200, ok.text
    assert ok.json()["mqttHost"] == "mqtt.petit.test"


async def test_a_failed_rotation_keeps_the_device_secret_usable(kit: Gateway, fake: FakeThingsBoard) -> None:
    mac = secrets.token_hex(6).upper()
    first = (await kit.client.post("/provisioning/devices", json=provision_body(mac))).json()
    fake.fail_next("rotate_credentials", ThingsBoardUnavailableError("down"))
    again = provision_body(mac, deviceSecret=first["deviceSecret"])
    assert (await kit.client.post("/provisioning/devices", json=again)).status_code == 503
    retried = await kit.client.post("/provisioning/devices", json=again)
    assert retried.status_code == 200, retried.text


async def test_a_failed_rotation_keeps_the_provisioning_token_usable(
    kit: Gateway, fake: FakeThingsBoard
) -> None:
    owner = await kit.owner()
    device_id, _ = await kit.device(owner)
    issued = await kit.client.post(f"/gateway/devices/{device_id}/provision", json={}, headers=owner.headers)
    token = issued.json()["token"]
    fake.fail_next("rotate_credentials", ThingsBoardUnavailableError("down"))
    claim = {"token": token, "device_metadata": {}}
    assert (await kit.client.post("/gateway/devices/claim", json=claim)).status_code == 503
    assert await kit.sql("SELECT claimed_at FROM provisioning_tokens WHERE device_id = :d", d=device_id) == [
        (None,)
    ]
    claimed = await kit.client.post("/gateway/devices/claim", json=claim)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["mqtt_host"] == "mqtt.petit.test"


async def test_ingest_reports_thingsboard_down_as_503(kit: Gateway, fake: FakeThingsBoard) -> None:
    owner = await kit.owner()
    device_id, _ = await kit.device(owner)
    issued = await kit.client.post(f"/gateway/devices/{device_id}/provision", json={}, headers=owner.headers)
    claimed = await kit.client.post("/gateway/devices/claim", json={"token": issued.json()["token"]})
    api_key = claimed.json()["api_key"]
    fake.fail_next("save_readings", ThingsBoardUnavailableError("down"))
    headers = {"Authorization": f"Bearer {api_key}"}
    down = await kit.client.post("/gateway/device-data/ingest", json={"t": 1}, headers=headers)
    assert down.status_code == 503, down.text
    assert (
        await kit.client.post("/gateway/device-data/ingest", json={"t": 2}, headers=headers)
    ).status_code == 200
    latest = await kit.client.get(f"/gateway/devices/{device_id}/telemetry/latest", headers=owner.headers)
    assert latest.json()["payload"] == {"t": 2}
    assert uuid.UUID(latest.json()["device_id"]) == device_id
