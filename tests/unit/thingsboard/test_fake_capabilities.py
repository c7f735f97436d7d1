"""The fake's capability methods keep the real client's rules (see tests/integration/thingsboard/
test_capabilities.py), so feature tests on the fake mean the same as on ThingsBoard."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from petit.thingsboard import ThingsBoardNotFoundError, ThingsBoardUnavailableError
from petit.thingsboard.models import AttributeScope
from tests.fakes.thingsboard import FakeThingsBoard

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


@pytest.fixture
def fake() -> FakeThingsBoard:
    return FakeThingsBoard(clock=lambda: NOW)


async def test_connected_since_follows_the_device_connecting(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("conn", owner_id=None)
    assert await fake.connected_since(device.id) is None

    fake.set_connectivity(device.id, online=True)
    assert await fake.connected_since(device.id) == datetime.fromtimestamp(NOW, tz=UTC)
    fake.set_connectivity(device.id, online=False, ts_ms=1_800_000_000_000)
    assert await fake.connected_since(device.id) == datetime.fromtimestamp(NOW, tz=UTC)
    fake.set_connectivity(device.id, online=True, ts_ms=1_800_000_000_500)
    assert await fake.connected_since(device.id) == datetime(2027, 1, 15, 8, 0, 0, 500_000, tzinfo=UTC)


async def test_pairing_proof_is_what_the_device_reported_until_cleared(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("proof", owner_id=None)
    assert await fake.pairing_proof(device.id) is None

    fake.report_attributes(device.id, {"pairKey": "pk-1", "mac": "AA:BB"})
    assert await fake.pairing_proof(device.id) == "pk-1"

    await fake.clear_pairing_proof(device.id)
    await fake.clear_pairing_proof(device.id)
    assert await fake.pairing_proof(device.id) is None
    assert await fake.get_attributes(device.id, AttributeScope.REPORTED) == {"mac": "AA:BB"}


async def test_show_status_merges_into_what_operators_see(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("status", owner_id=None)
    await fake.show_status(device.id, {"pairingState": "pending", "owner": "a@example.com"})
    await fake.show_status(device.id, {"pairingState": "paired"})
    assert await fake.get_attributes(device.id, AttributeScope.SERVER) == {
        "pairingState": "paired",
        "owner": "a@example.com",
    }
    assert await fake.get_settings(device.id) == {}


async def test_settings_save_merge_and_delete(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("settings", owner_id=None)
    await fake.save_settings(device.id, {"target": 21.5, "mode": "eco"})
    await fake.save_settings(device.id, {"mode": "comfort"})
    settings = await fake.get_settings(device.id)
    assert settings == {"target": 21.5, "mode": "comfort"}
    # A copy: a caller mutating what it read does not change the device.
    settings["target"] = 0
    assert (await fake.get_settings(device.id))["target"] == 21.5
    await fake.delete_settings(device.id, ["target", "never-set"])
    assert await fake.get_settings(device.id) == {"mode": "comfort"}


async def test_capabilities_fail_like_the_rest_of_the_port(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("faults", owner_id=None)
    with pytest.raises(ThingsBoardNotFoundError):
        await fake.connected_since(uuid.UUID(int=1))
    fake.fail_next("show_status", ThingsBoardUnavailableError("down"))
    with pytest.raises(ThingsBoardUnavailableError):
        await fake.show_status(device.id, {"owner": "x"})
    await fake.show_status(device.id, {"owner": "x"})
    fake.down = True
    for call in (
        fake.connected_since(device.id),
        fake.pairing_proof(device.id),
        fake.clear_pairing_proof(device.id),
        fake.get_settings(device.id),
        fake.save_settings(device.id, {"a": 1}),
        fake.delete_settings(device.id, ["a"]),
    ):
        with pytest.raises(ThingsBoardUnavailableError):
            await call
