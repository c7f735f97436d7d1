"""ThingsBoardClient against the emulator over real HTTP, with tokens in real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from petit.thingsboard import (
    Aggregation,
    AttributeScope,
    HistoryQuery,
    Reading,
    SortOrder,
    ThingsBoardAuthError,
    ThingsBoardBadRequestError,
    ThingsBoardClaimRejectedError,
    ThingsBoardClient,
    ThingsBoardConflictError,
    ThingsBoardNotFoundError,
    ThingsBoardPort,
    ThingsBoardTimeoutError,
)

if TYPE_CHECKING:
    import httpx

    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

Names = Callable[[str], str]


def test_client_is_a_port(tb: ThingsBoardClient) -> None:
    assert isinstance(tb, ThingsBoardPort)


async def test_health(tb: ThingsBoardClient) -> None:
    await tb.check_health()


async def test_wrong_password_is_an_auth_error(make_client: Callable[..., ThingsBoardClient]) -> None:
    # RestClientCE.login() would store a None token and carry on; we must fail loudly.
    client = make_client(password="wrong")
    with pytest.raises(ThingsBoardAuthError):
        await client.check_health()


async def test_owner_is_created_once_and_found_by_email(tb: ThingsBoardClient, unique_name: Names) -> None:
    email = f"{unique_name('alice')}@example.com"
    first, second = await asyncio.gather(tb.ensure_owner(email), tb.ensure_owner(email))
    assert first == second
    assert first.title == f"petit user {email}"
    assert await tb.ensure_owner(email.upper()) == first
    assert await tb.find_owner(email) == first
    await tb.delete_owner(first.owner_id)
    await tb.delete_owner(first.owner_id)
    assert await tb.find_owner(email) is None


async def test_device_lifecycle(tb: ThingsBoardClient, unique_name: Names, emulator: Emulator) -> None:
    owner = await tb.ensure_owner(f"{unique_name('o')}@example.com")
    name = unique_name("dev")
    device = await tb.create_device(name, owner_id=owner.owner_id, label="Kitchen")
    assert (device.name, device.label, device.profile, device.owner_id) == (
        name,
        "Kitchen",
        "default",
        owner.owner_id,
    )
    assert await tb.get_device(device.id) == device
    assert await tb.find_device(name) == device
    assert await tb.find_device(unique_name("missing")) is None

    renamed = await tb.update_device(device.id, label="Hall")
    assert renamed.label == "Hall"
    assert renamed.name == name

    page = await tb.list_devices(owner_id=owner.owner_id)
    assert [d.id for d in page.items] == [device.id]
    assert page.total == 1
    assert not page.has_next

    released = await tb.unassign_device(device.id)
    assert released.owner_id is None
    assert (await tb.unassign_device(device.id)).owner_id is None
    assert (await tb.assign_device(device.id, owner.owner_id)).owner_id == owner.owner_id

    await tb.delete_device(device.id)
    await tb.delete_device(device.id)
    with pytest.raises(ThingsBoardNotFoundError):
        await tb.get_device(device.id)


async def test_tenant_listing_pages(tb: ThingsBoardClient, unique_name: Names) -> None:
    created = {(await tb.create_device(unique_name("page"), owner_id=None)).id for _ in range(5)}
    seen: list[uuid.UUID] = []
    page_no = 0
    while True:
        page = await tb.list_devices(page=page_no, page_size=2)
        assert len(page.items) <= 2
        seen.extend(d.id for d in page.items)
        if not page.has_next:
            break
        page_no += 1
    assert created <= set(seen)
    assert len(seen) == len(set(seen))


async def test_duplicates_are_conflicts(tb: ThingsBoardClient, unique_name: Names) -> None:
    name, token = unique_name("dup"), unique_name("tok")
    await tb.create_device(name, owner_id=None, access_token=token)
    with pytest.raises(ThingsBoardConflictError):
        await tb.create_device(name, owner_id=None)
    with pytest.raises(ThingsBoardConflictError):
        await tb.create_device(unique_name("other"), owner_id=None, access_token=token)


async def test_failed_assignment_leaves_no_device_behind(tb: ThingsBoardClient, unique_name: Names) -> None:
    name = unique_name("orphan")
    with pytest.raises(ThingsBoardNotFoundError):
        await tb.create_device(name, owner_id=uuid.uuid4())
    assert await tb.find_device(name) is None


async def test_unknown_ids_are_not_found(tb: ThingsBoardClient) -> None:
    missing = uuid.uuid4()
    for call in (
        tb.get_device(missing),
        tb.get_credentials(missing),
        tb.update_device(missing, label="x"),
        tb.assign_device(missing, uuid.uuid4()),
    ):
        with pytest.raises(ThingsBoardNotFoundError):
            await call


async def test_credentials_come_with_mqtt_endpoint_and_rotate(
    tb: ThingsBoardClient, unique_name: Names, emulator: Emulator, device_http: httpx.AsyncClient
) -> None:
    device = await tb.create_device(unique_name("cred"), owner_id=None)
    creds = await tb.get_credentials(device.id)
    assert (creds.device_id, creds.mqtt_host, creds.mqtt_port) == (device.id, "127.0.0.1", emulator.mqtt_port)
    assert len(creds.access_token) == 20

    rotated = await tb.rotate_credentials(device.id)
    assert rotated.access_token != creds.access_token
    assert (await tb.get_credentials(device.id)).access_token == rotated.access_token
    old = await device_http.post(f"/api/v1/{creds.access_token}/telemetry", json={"t": 1})
    new = await device_http.post(f"/api/v1/{rotated.access_token}/telemetry", json={"t": 1})
    assert (old.status_code >= 400, new.status_code) == (True, 200)

    chosen = unique_name("chosen")
    assert (await tb.rotate_credentials(device.id, chosen)).access_token == chosen
    other = await tb.create_device(unique_name("cred2"), owner_id=None)
    with pytest.raises(ThingsBoardConflictError):
        await tb.rotate_credentials(other.id, chosen)


async def test_telemetry_latest_and_history_keep_numbers(
    tb: ThingsBoardClient, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    device = await tb.create_device(unique_name("tele"), owner_id=None)
    token = (await tb.get_credentials(device.id)).access_token
    base = 1_700_000_000_000
    samples = [{"ts": base + i * 1000, "values": {"temperature": 20 + i, "label": f"s{i}"}} for i in range(6)]
    response = await device_http.post(f"/api/v1/{token}/telemetry", json=samples)
    assert response.status_code == 200

    latest = await tb.latest_readings(device.id, ["temperature", "label", "never"])
    assert latest == {
        "temperature": Reading(base + 5000, 25),
        "label": Reading(base + 5000, "s5"),
        "never": None,
    }
    assert sorted(await tb.telemetry_keys(device.id)) == ["label", "temperature"]

    history = await tb.reading_history(
        device.id, HistoryQuery(keys=("temperature",), start_ms=base + 1000, end_ms=base + 5000, limit=10)
    )
    assert history == {"temperature": [Reading(base + i * 1000, 20 + i) for i in (4, 3, 2, 1)]}

    limited = await tb.reading_history(
        device.id,
        HistoryQuery(keys=("temperature",), start_ms=base, end_ms=base + 6000, limit=2, order=SortOrder.ASC),
    )
    assert [r.value for r in limited["temperature"]] == [20, 21]

    averaged = await tb.reading_history(
        device.id,
        HistoryQuery(
            keys=("temperature",),
            start_ms=base,
            end_ms=base + 6000,
            aggregation=Aggregation.AVG,
            interval_ms=3000,
            order=SortOrder.ASC,
        ),
    )
    values = [r.value for r in averaged["temperature"]]
    assert values == [21, 24] or values == [21.0, 24.0]
    assert all(isinstance(v, int | float) for v in values)


async def test_settings_and_server_attributes(tb: ThingsBoardClient, unique_name: Names) -> None:
    device = await tb.create_device(unique_name("attr"), owner_id=None)
    await tb.save_attributes(device.id, AttributeScope.SETTINGS, {"target": 21.5, "mode": "eco", "on": True})
    await tb.save_attributes(device.id, AttributeScope.SERVER, {"note": "ops"})
    assert await tb.get_attributes(device.id, AttributeScope.SETTINGS) == {
        "target": 21.5,
        "mode": "eco",
        "on": True,
    }
    assert await tb.get_attributes(device.id, AttributeScope.SETTINGS, ["mode"]) == {"mode": "eco"}
    await tb.delete_attributes(device.id, AttributeScope.SETTINGS, ["mode", "on"])
    assert await tb.get_attributes(device.id, AttributeScope.SETTINGS) == {"target": 21.5}
    assert await tb.get_attributes(device.id, AttributeScope.SERVER, ["note"]) == {"note": "ops"}
    with pytest.raises(ThingsBoardBadRequestError):
        await tb.save_attributes(device.id, AttributeScope.REPORTED, {"x": 1})


async def test_command_to_offline_device_times_out_promptly(
    tb: ThingsBoardClient, unique_name: Names
) -> None:
    device = await tb.create_device(unique_name("rpc"), owner_id=None)
    started = time.monotonic()
    with pytest.raises(ThingsBoardTimeoutError):
        await tb.call_device(device.id, "callFunction", {"name": "blink"}, timeout_s=0.5)
    assert time.monotonic() - started < 0.5 + 1.0


async def test_claim_by_customer_user(
    tb: ThingsBoardClient, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    owner = await tb.ensure_owner(f"{unique_name('claimer')}@example.com")
    device = await tb.create_device(unique_name("claim"), owner_id=None)
    token = (await tb.get_credentials(device.id)).access_token
    response = await device_http.post(
        f"/api/v1/{token}/claim", json={"secretKey": "s3cret", "durationMs": 60000}
    )
    assert response.status_code == 200

    with pytest.raises(ThingsBoardClaimRejectedError):
        await tb.claim_device(owner.account_id, device.name, "wrong")
    # A wrong secret evicts the pending claim, as in ThingsBoard: the device must register again.
    await device_http.post(f"/api/v1/{token}/claim", json={"secretKey": "s3cret", "durationMs": 60000})
    claimed = await tb.claim_device(owner.account_id, device.name, "s3cret")
    assert (claimed.id, claimed.owner_id) == (device.id, owner.owner_id)
    with pytest.raises(ThingsBoardConflictError):
        await tb.claim_device(owner.account_id, device.name, "s3cret")

    await tb.release_device(device.name)
    assert (await tb.get_device(device.id)).owner_id is None
