"""Telemetry reads remember ownership per process; a device deleted or released stops being readable at once
here, and within the cache's TTL when its row goes away in another process."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete

from petit.db.models import Device
from petit.devices.ownership import OWNERSHIP_TTL_S
from petit.devices.repositories import DeviceRepository
from petit.runtime import runtime_of
from tests.integration.devicedata.conftest import Kit, eventually

pytestmark = pytest.mark.integration

KEYS = {"keys": "temperature"}


async def _readable(kit: Kit) -> tuple[dict[str, str], str]:
    owner = await kit.owner()
    device = await kit.device(owner)
    mqtt_device = await kit.connect(device)
    await mqtt_device.publish({"temperature": 20.5})
    url = f"/devices/{device.id}/telemetry/latest"
    await eventually(
        lambda: kit.client.get(url, params=KEYS, headers=owner.headers),
        lambda r: r.status_code == 200 and r.json()["values"]["temperature"] is not None,
    )
    return owner.headers, url


async def test_deleted_device_is_unreadable_at_once(kit: Kit) -> None:
    headers, url = await _readable(kit)
    device_path = url.removesuffix("/telemetry/latest")

    assert (await kit.client.delete(device_path, headers=headers)).status_code == 204

    gone = await kit.client.get(url, params=KEYS, headers=headers)
    assert gone.status_code == 404, gone.text
    assert (
        await kit.client.get(url.replace("latest", "history"), params=KEYS, headers=headers)
    ).status_code == 404


async def test_row_deleted_through_the_repository_in_this_process_is_unreadable_at_once(kit: Kit) -> None:
    # The platform device stays, so only the ownership cache stands between the caller and the data.
    headers, url = await _readable(kit)
    device_id = uuid.UUID(url.split("/")[2])
    async with runtime_of(kit.app).sessionmaker() as session:
        devices = DeviceRepository(session)
        row = await devices.get(device_id)
        assert row is not None
        await devices.delete(row)
        await session.commit()

    gone = await kit.client.get(url, params=KEYS, headers=headers)
    assert gone.status_code == 404, gone.text


async def test_released_device_is_unreadable_at_once(kit: Kit) -> None:
    headers, url = await _readable(kit)
    release = url.replace("/telemetry/latest", "/release")

    assert (await kit.client.post(release, headers=headers)).status_code == 204

    gone = await kit.client.get(url, params=KEYS, headers=headers)
    assert gone.status_code == 404, gone.text


async def test_row_deleted_by_another_process_is_unreadable_within_the_ttl(kit: Kit) -> None:
    headers, url = await _readable(kit)
    device_id = url.split("/")[2]
    # Straight through SQL, not the repository: what this process sees when another worker deletes the row.
    async with runtime_of(kit.app).sessionmaker() as session:
        await session.execute(delete(Device).where(Device.id == uuid.UUID(device_id)))  # type: ignore[arg-type]
        await session.commit()

    # Still answered from the cache right after (that is the cache working), but not beyond the TTL.
    await eventually(
        lambda: kit.client.get(url, params=KEYS, headers=headers),
        lambda r: r.status_code == 404,
        within=OWNERSHIP_TTL_S + 3.0,
    )
