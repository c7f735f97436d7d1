"""Flow A end to end: StartPairing, a scripted device publishing its pair key over MQTT, GetPairing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlmodel import select

from petit.db.models import Pairing
from petit.runtime import runtime_of
from petit.thingsboard.errors import ThingsBoardNotFoundError
from petit.thingsboard.models import AttributeScope
from tests.integration.pairing.conftest import ScriptedDevice

if TYPE_CHECKING:
    from tests.integration.pairing.conftest import Kit, User

pytestmark = pytest.mark.integration


async def _start(kit: Kit, user: User, name: str | None = None) -> dict[str, str]:
    response = await kit.client.post(
        "/pairings", json={"name": name or f"lamp-{uuid.uuid4().hex[:6]}"}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def _platform_id(kit: Kit, pairing_id: str) -> uuid.UUID:
    async with runtime_of(kit.app).sessionmaker() as session:
        pairing = await session.get(Pairing, uuid.UUID(pairing_id))
        assert pairing is not None
        return pairing.platform_device_id


async def _wait_key_consumed(kit: Kit, platform_id: uuid.UUID) -> None:
    """Until petit has looked at (and removed) the pairKey the device published, or deleted the device."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        try:
            reported = await kit.thingsboard.get_attributes(platform_id, AttributeScope.REPORTED)
        except ThingsBoardNotFoundError:
            return
        if "pairKey" not in reported:
            return
        assert asyncio.get_running_loop().time() < deadline, "petit never consumed the pair key"
        await asyncio.sleep(0.05)


async def test_device_sending_its_pair_key_completes_the_pairing(kit: Kit) -> None:
    user = await kit.user()
    started = await _start(kit, user, "Kitchen lamp")
    assert started["state"] == "pending"
    assert started["mqttPort"] == kit.emulator.mqtt_port
    assert len(started["pairKey"]) >= 22
    assert started["pairKey"] != started["ownerKey"]
    platform_id = await _platform_id(kit, started["pairingId"])

    device = await kit.device(started["accessToken"])
    await kit.wait_state(user, started["pairingId"], "device_connected")
    await device.send_pair_key(started["pairKey"])
    done = await kit.wait_state(user, started["pairingId"], "completed")

    device_id = done["deviceId"]
    got = await kit.client.get(f"/devices/{device_id}", headers=user.headers)
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "Kitchen lamp"
    # Operators see it in ThingsBoard; the spent key is not left visible.
    server = await kit.thingsboard.get_attributes(platform_id, AttributeScope.SERVER)
    assert server["pairingState"] == "completed"
    assert server["owner"] == user.email
    assert isinstance(server["lastProvisioning"], dict)
    assert server["lastProvisioning"]["flow"] == "pairing"
    assert "pairKey" not in await kit.thingsboard.get_attributes(platform_id, AttributeScope.REPORTED)
    assert (await kit.thingsboard.get_device(platform_id)).name == f"petit-{device_id}"

    events = await kit.events(user, device_id)
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("complete", "succeeded"),
        ("start", "succeeded"),
    ]
    assert events[1]["clientIp"] == "203.0.113.7"
    assert all("pairKey" not in str(e["details"]) for e in events)


async def test_wrong_pair_key_fails_the_attempt_and_the_right_one_still_completes(kit: Kit) -> None:
    user = await kit.user()
    started = await _start(kit, user)
    device = await kit.device(started["accessToken"])
    await device.send_pair_key("not-the-key")
    platform_id = await _platform_id(kit, started["pairingId"])
    # The wrong key is noticed (and removed) without completing anything.
    await _wait_key_consumed(kit, platform_id)
    await kit.wait_state(user, started["pairingId"], "device_connected")
    state = (await kit.client.get(f"/pairings/{started['pairingId']}", headers=user.headers)).json()["state"]
    assert state == "device_connected"
    await device.send_pair_key(started["pairKey"])
    done = await kit.wait_state(user, started["pairingId"], "completed")
    outcomes = [(e["action"], e["outcome"], e["reason"]) for e in await kit.events(user, done["deviceId"])]
    assert ("complete", "failed", "wrong_pair_key") in outcomes


@pytest.mark.parametrize("kit", [{"max_failures_per_device": 2}], indirect=True)
async def test_brute_forcing_the_pair_key_locks_the_pairing_out(kit: Kit) -> None:
    user = await kit.user()
    started = await _start(kit, user)
    platform_id = await _platform_id(kit, started["pairingId"])
    device = await kit.device(started["accessToken"])
    for guess in ("guess-1", "guess-2"):
        await device.send_pair_key(guess)
        await _wait_key_consumed(kit, platform_id)
    failed = await kit.wait_state(user, started["pairingId"], "failed")
    assert failed["failureReason"] == "too_many_attempts"
    with pytest.raises(ThingsBoardNotFoundError):
        await kit.thingsboard.get_device(platform_id)


async def test_expired_pairing_releases_its_device_and_ignores_a_late_key(kit: Kit) -> None:
    user = await kit.user()
    started = await _start(kit, user)
    platform_id = await _platform_id(kit, started["pairingId"])
    # Past the 10-minute pairing lifetime, still within the 15-minute access token.
    kit.clock.offset += timedelta(minutes=11)
    expired = await kit.wait_state(user, started["pairingId"], "expired", "completed")
    assert expired["state"] == "expired"
    assert expired["deviceId"] is None
    with pytest.raises(ThingsBoardNotFoundError):
        await kit.thingsboard.get_device(platform_id)
    # The device's token died with the reserved device: a late device cannot even connect.
    late = ScriptedDevice(kit.emulator.mqtt_port, started["accessToken"])
    kit.devices.append(late)
    assert not await late.wait_connected()


async def test_cancel_deletes_the_reserved_device_once_and_only_for_its_owner(kit: Kit) -> None:
    user, stranger = await kit.user(), await kit.user("stranger")
    started = await _start(kit, user)
    platform_id = await _platform_id(kit, started["pairingId"])
    path = f"/pairings/{started['pairingId']}"
    assert (await kit.client.delete(path, headers=stranger.headers)).status_code == 404
    assert (await kit.client.get(path, headers=stranger.headers)).status_code == 404
    assert (await kit.client.delete(path, headers=user.headers)).status_code == 204
    with pytest.raises(ThingsBoardNotFoundError):
        await kit.thingsboard.get_device(platform_id)
    again = await kit.client.delete(path, headers=user.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "pairing_closed"
    assert (await kit.client.get(path, headers=user.headers)).json()["state"] == "cancelled"


async def test_a_spent_pair_key_cannot_complete_another_pairing(kit: Kit) -> None:
    user = await kit.user()
    first = await _start(kit, user)
    device = await kit.device(first["accessToken"])
    await device.send_pair_key(first["pairKey"])
    await kit.wait_state(user, first["pairingId"], "completed")
    # Replay: the first key sent by the second reserved device is just a wrong key there.
    second = await _start(kit, user)
    other = await kit.device(second["accessToken"])
    await other.send_pair_key(first["pairKey"])
    await _wait_key_consumed(kit, await _platform_id(kit, second["pairingId"]))
    state = (await kit.client.get(f"/pairings/{second['pairingId']}", headers=user.headers)).json()["state"]
    assert state in {"pending", "device_connected"}


async def test_thingsboard_failing_mid_start_leaves_nothing_behind(kit: Kit) -> None:
    user = await kit.user()
    # Warm the user's ThingsBoard link so the failure lands inside StartPairing's own calls.
    await _start(kit, user)
    before = (await kit.thingsboard.list_devices(page_size=1000)).total
    kit.emulator.faults.rest_errors(status=503)
    try:
        response = await kit.client.post("/pairings", json={"name": "doomed"}, headers=user.headers)
    finally:
        kit.emulator.faults.clear()
    assert response.status_code == 503, response.text
    assert (await kit.thingsboard.list_devices(page_size=1000)).total == before
    async with runtime_of(kit.app).sessionmaker() as session:
        rows = (await session.execute(select(Pairing).where(Pairing.name == "doomed"))).scalars().all()  # type: ignore[arg-type]
    assert rows == []
