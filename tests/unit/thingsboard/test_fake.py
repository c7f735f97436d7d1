from __future__ import annotations

import uuid

import pytest

from petit.thingsboard import (
    Aggregation,
    AttributeScope,
    HistoryQuery,
    Reading,
    SortOrder,
    ThingsBoardClaimRejectedError,
    ThingsBoardConflictError,
    ThingsBoardNotFoundError,
    ThingsBoardPort,
    ThingsBoardTimeoutError,
    ThingsBoardUnavailableError,
)
from tests.fakes.thingsboard import FakeThingsBoard

pytestmark = pytest.mark.unit


@pytest.fixture
def fake() -> FakeThingsBoard:
    return FakeThingsBoard(mqtt_host="mqtt.test", mqtt_port=1884)


def test_fake_is_a_port(fake: FakeThingsBoard) -> None:
    assert isinstance(fake, ThingsBoardPort)


async def test_owner_is_idempotent_by_email(fake: FakeThingsBoard) -> None:
    first = await fake.ensure_owner("Alice@Example.com")
    assert await fake.ensure_owner("alice@example.com") == first
    assert first.title == "petit user alice@example.com"
    assert await fake.find_owner("bob@example.com") is None


async def test_device_lifecycle(fake: FakeThingsBoard) -> None:
    owner = await fake.ensure_owner("a@example.com")
    device = await fake.create_device("dev-1", owner_id=owner.owner_id, label="Kitchen")
    assert device.owner_id == owner.owner_id
    with pytest.raises(ThingsBoardConflictError):
        await fake.create_device("dev-1", owner_id=None)
    creds = await fake.get_credentials(device.id)
    assert (creds.mqtt_host, creds.mqtt_port, len(creds.access_token)) == ("mqtt.test", 1884, 20)
    rotated = await fake.rotate_credentials(device.id, "new-token")
    assert rotated.access_token == "new-token"
    page = await fake.list_devices(owner_id=owner.owner_id)
    assert [d.id for d in page.items] == [device.id]
    await fake.delete_device(device.id)
    await fake.delete_device(device.id)
    with pytest.raises(ThingsBoardNotFoundError):
        await fake.get_device(device.id)


async def test_history_aggregates_into_midpoint_buckets(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("dev", owner_id=None)
    for ts, value in [(0, 1), (10, 3), (100, 10), (150, 20)]:
        fake.record_reading(device.id, "t", value, ts_ms=ts)
    query = HistoryQuery(
        keys=("t",), start_ms=0, end_ms=200, aggregation=Aggregation.AVG, interval_ms=100, order=SortOrder.ASC
    )
    assert await fake.reading_history(device.id, query) == {"t": [Reading(50, 2.0), Reading(150, 15.0)]}
    latest = await fake.latest_readings(device.id, ["t", "missing"])
    assert latest == {"t": Reading(150, 20), "missing": None}


async def test_offline_device_times_out_and_online_one_answers(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("dev", owner_id=None)
    with pytest.raises(ThingsBoardTimeoutError):
        await fake.call_device(device.id, "callFunction", {"name": "blink"})
    fake.online[device.id] = lambda method, params: {"ok": method, "params": params}
    assert await fake.call_device(device.id, "callFunction", {"x": 1}) == {
        "ok": "callFunction",
        "params": {"x": 1},
    }


async def test_settings_round_trip(fake: FakeThingsBoard) -> None:
    device = await fake.create_device("dev", owner_id=None)
    await fake.save_attributes(device.id, AttributeScope.SETTINGS, {"target": 21.5, "mode": "eco"})
    await fake.delete_attributes(device.id, AttributeScope.SETTINGS, ["mode"])
    assert await fake.get_attributes(device.id, AttributeScope.SETTINGS) == {"target": 21.5}


async def test_claim_needs_the_secret(fake: FakeThingsBoard) -> None:
    owner = await fake.ensure_owner("a@example.com")
    device = await fake.create_device("dev", owner_id=None)
    fake.register_claim("dev", "s3cret")
    with pytest.raises(ThingsBoardClaimRejectedError):
        await fake.claim_device(owner.account_id, "dev", "wrong")
    fake.register_claim("dev", "s3cret")
    claimed = await fake.claim_device(owner.account_id, "dev", "s3cret")
    assert claimed.id == device.id
    assert claimed.owner_id == owner.owner_id
    with pytest.raises(ThingsBoardConflictError):
        await fake.claim_device(owner.account_id, "dev", "s3cret")


async def test_fault_switches(fake: FakeThingsBoard) -> None:
    fake.down = True
    with pytest.raises(ThingsBoardUnavailableError):
        await fake.check_health()
    fake.down = False
    await fake.check_health()
    fake.fail_next("get_device", ThingsBoardUnavailableError("once"))
    with pytest.raises(ThingsBoardUnavailableError):
        await fake.get_device(uuid.uuid4())
    with pytest.raises(ThingsBoardNotFoundError):
        await fake.get_device(uuid.uuid4())
