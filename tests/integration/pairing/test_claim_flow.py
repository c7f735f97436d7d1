"""Flow B end to end: CreateClaimCode, a scripted device registering the claim over MQTT, ClaimDevice; and
releasing a device so someone else can claim it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from petit.thingsboard.models import AttributeScope

if TYPE_CHECKING:
    from tests.integration.pairing.conftest import Kit, ScriptedDevice, User

pytestmark = pytest.mark.integration


async def _factory_device(kit: Kit) -> tuple[str, uuid.UUID, ScriptedDevice]:
    """A device made and provisioned beforehand: in ThingsBoard, owned by nobody, connected."""
    name = f"factory-{uuid.uuid4().hex[:10]}"
    record = await kit.thingsboard.create_device(name, owner_id=None)
    token = (await kit.thingsboard.get_credentials(record.id)).access_token
    return name, record.id, await kit.device(token)


async def _code(kit: Kit, user: User) -> str:
    response = await kit.client.post("/claims/codes", headers=user.headers)
    assert response.status_code == 201, response.text
    code: str = response.json()["claimCode"]
    return code


async def _claim(kit: Kit, user: User, name: str, code: str) -> Any:
    return await kit.client.post(
        "/claims", json={"deviceName": name, "claimCode": code}, headers=user.headers
    )


async def test_claim_code_makes_the_device_yours_once(kit: Kit) -> None:
    user, stranger = await kit.user(), await kit.user("stranger")
    name, platform_id, device = await _factory_device(kit)
    code = await _code(kit, user)
    assert len(code) == 8
    await device.request_claim(code)

    claimed = await _claim(kit, user, name, code.lower())  # people type codes in any case
    assert claimed.status_code == 201, claimed.text
    device_id = claimed.json()["id"]
    owner = (await kit.thingsboard.get_device(platform_id)).owner_id
    assert owner is not None
    server = await kit.thingsboard.get_attributes(platform_id, AttributeScope.SERVER)
    assert server["pairingState"] == "claimed"
    assert server["owner"] == user.email

    # Reused code, and someone else's device (with a fresh code of their own): both clear refusals.
    reused = await _claim(kit, user, name, code)
    assert (reused.status_code, reused.json()["code"]) == (409, "claim_code_used")
    theirs = await _claim(kit, stranger, name, await _code(kit, stranger))
    assert (theirs.status_code, theirs.json()["code"]) == (409, "device_already_owned")
    assert (await kit.thingsboard.get_device(platform_id)).owner_id == owner

    events = await kit.client.get(f"/devices/{device_id}/events", headers=user.headers)
    seen = [(e["action"], e["outcome"], e["reason"]) for e in events.json()["items"]]
    assert ("claim", "succeeded", None) in seen
    assert ("claim", "refused", "owned_by_someone_else") in seen
    # The stranger cannot read the device's audit trail.
    assert (await kit.client.get(f"/devices/{device_id}/events", headers=stranger.headers)).status_code == 404


async def test_wrong_and_expired_codes_are_refused(kit: Kit) -> None:
    user = await kit.user()
    name, _, device = await _factory_device(kit)
    wrong = await _claim(kit, user, name, "ZZZZZZZZ")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_claim_code")
    code = await _code(kit, user)
    await device.request_claim(code)
    kit.clock.offset += timedelta(minutes=11)
    expired = await _claim(kit, user, name, code)
    assert (expired.status_code, expired.json()["code"]) == (410, "claim_code_expired")


async def test_a_code_the_device_never_sent_is_spent_and_rejected(kit: Kit) -> None:
    user = await kit.user()
    name, platform_id, _ = await _factory_device(kit)
    code = await _code(kit, user)
    rejected = await _claim(kit, user, name, code)
    assert (rejected.status_code, rejected.json()["code"]) == (400, "claim_rejected")
    again = await _claim(kit, user, name, code)
    assert again.json()["code"] == "claim_code_used"
    assert (await kit.thingsboard.get_device(platform_id)).owner_id is None


@pytest.mark.parametrize("kit", [{"max_failures_per_user": 3, "lockout_s": 120}], indirect=True)
async def test_guessing_codes_ends_in_lockout(kit: Kit) -> None:
    user = await kit.user()
    name, _, _ = await _factory_device(kit)
    statuses = [(await _claim(kit, user, name, f"GUESS{i:03d}")).status_code for i in range(3)]
    assert statuses == [400, 400, 400]
    locked = await _claim(kit, user, name, "GUESS999")
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert 1 <= int(locked.headers["Retry-After"]) <= 120
    # Even the right code waits out the lockout: the lock is on the user, not on the guess.
    assert (await _claim(kit, user, name, await _code_or_none(kit, user))).status_code == 429


async def _code_or_none(kit: Kit, user: User) -> str:
    response = await kit.client.post("/claims/codes", headers=user.headers)
    # Creating codes is throttled with the same counters.
    return str(response.json().get("claimCode", "AAAAAAAA"))


async def test_two_users_claiming_at_the_same_moment_exactly_one_wins(kit: Kit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    name, platform_id, device = await _factory_device(kit)
    code = await _code(kit, alice)
    await device.request_claim(code)
    # Both hold the code (it is a bearer secret, like one printed on the box) and press "claim" together.
    results = await asyncio.gather(_claim(kit, alice, name, code), _claim(kit, bob, name, code))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["code"] in {"claim_in_progress", "claim_code_used", "device_already_owned"}
    winner = next(r for r in results if r.status_code == 201)
    assert (await kit.thingsboard.get_device(platform_id)).owner_id is not None
    assert winner.json()["name"] == name


async def test_release_rotates_credentials_and_lets_someone_else_claim(kit: Kit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    name, platform_id, device = await _factory_device(kit)
    old_token = (await kit.thingsboard.get_credentials(platform_id)).access_token
    code = await _code(kit, alice)
    await device.request_claim(code)
    device_id = (await _claim(kit, alice, name, code)).json()["id"]

    assert (await kit.client.post(f"/devices/{device_id}/release", headers=bob.headers)).status_code == 404
    released = await kit.client.post(f"/devices/{device_id}/release", headers=alice.headers)
    assert released.status_code == 204, released.text
    assert (await kit.thingsboard.get_device(platform_id)).owner_id is None
    new_token = (await kit.thingsboard.get_credentials(platform_id)).access_token
    assert new_token != old_token
    assert (await kit.client.get(f"/devices/{device_id}", headers=alice.headers)).status_code == 404

    # The factory-reset device comes back with its new credentials and bob claims it.
    reset = await kit.device(new_token)
    bob_code = await _code(kit, bob)
    await reset.request_claim(bob_code)
    claimed = await _claim(kit, bob, name, bob_code)
    assert claimed.status_code == 201, claimed.text
    bob_events = await kit.client.get(f"/devices/{claimed.json()['id']}/events", headers=bob.headers)
    # Bob sees his own history with the device, not alice's.
    assert {e["actorUserId"] for e in bob_events.json()["items"]} == {str(bob.id)}


async def test_thingsboard_failing_mid_claim_keeps_the_code_and_the_device_unowned(kit: Kit) -> None:
    user = await kit.user()
    name, platform_id, device = await _factory_device(kit)
    code = await _code(kit, user)
    await device.request_claim(code)
    kit.emulator.faults.rest_errors(status=503)
    try:
        failed = await _claim(kit, user, name, code)
    finally:
        kit.emulator.faults.clear()
    assert failed.status_code == 503, failed.text
    assert (await kit.thingsboard.get_device(platform_id)).owner_id is None
    # Nothing was spent: the same code works once ThingsBoard is back.
    retried = await _claim(kit, user, name, code)
    assert retried.status_code == 201, retried.text
