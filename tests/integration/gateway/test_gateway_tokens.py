"""Seed 004's provisioning tokens end to end: petit on PostgreSQL and Redis, ThingsBoard emulated over HTTP
and MQTT, the device scripted with paho."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from petit.db.models import ProvisioningToken
from tests.integration.gateway.conftest import accepts

if TYPE_CHECKING:
    import httpx

    from tests.integration.gateway.conftest import Gateway, Owner

pytestmark = pytest.mark.integration


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


async def issue(gw: Gateway, owner: Owner, device_id: uuid.UUID, **body: Any) -> dict[str, Any]:
    response = await gw.client.post(
        f"/gateway/devices/{device_id}/provision", json=body, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


async def claim(gw: Gateway, token: str, **metadata: Any) -> httpx.Response:
    return await gw.client.post("/gateway/devices/claim", json={"token": token, "device_metadata": metadata})


async def ingest(gw: Gateway, api_key: str, values: dict[str, Any]) -> httpx.Response:
    return await gw.client.post(
        "/gateway/device-data/ingest", json=values, headers={"Authorization": f"Bearer {api_key}"}
    )


async def test_issue_claim_ingest_and_read_back_with_the_seed_bodies(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, old_token = await gateway.device(owner)
    assert await accepts(gateway.emulator.mqtt_port, old_token)

    issued = await issue(gateway, owner, device_id, notes="Line A ESP32")
    assert set(issued) == {"token", "expires_at", "device_id"}
    assert issued["device_id"] == str(device_id)
    assert len(issued["token"]) >= 32  # 192 bits, URL-safe
    # 30 minutes by default, not the seed's "never".
    assert issued["expires_at"] is not None

    claimed = await claim(gateway, issued["token"], fw="1.0.0")
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    assert set(body) >= {"device_id", "api_key", "ingest_url", "token_expires_at", "mqtt_host", "mqtt_port"}
    assert body["device_id"] == str(device_id)
    assert body["ingest_url"] == "http://petit.test/gateway/device-data/ingest"
    assert body["token_expires_at"] is None
    assert body["mqtt_port"] == gateway.emulator.mqtt_port
    # The claim rotated the ThingsBoard credential: the old token is refused, the new one works.
    assert not await accepts(gateway.emulator.mqtt_port, old_token)
    assert await accepts(gateway.emulator.mqtt_port, body["access_token"])
    assert body["access_token"] != body["api_key"]

    sent = await ingest(gateway, body["api_key"], {"voltage": 228.4, "current": 3.2, "power_factor": 0.97})
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"status": "ok"}

    latest = await gateway.client.get(f"/gateway/devices/{device_id}/telemetry/latest", headers=owner.headers)
    assert latest.status_code == 200, latest.text
    assert latest.json()["payload"] == {"voltage": 228.4, "current": 3.2, "power_factor": 0.97}
    assert latest.json()["timestamp"] is not None

    claims = await gateway.client.get(f"/gateway/devices/{device_id}/claims", headers=owner.headers)
    assert claims.status_code == 200, claims.text
    [only] = claims.json()["items"]
    assert only["notes"] == "Line A ESP32"
    assert only["device_metadata"] == {"fw": "1.0.0"}
    assert only["claim_ip"] == "203.0.113.7"

    # Stored hashed: neither the token nor the key appears in the database.
    rows = await gateway.sql("SELECT token_digest FROM provisioning_tokens")
    keys = await gateway.sql("SELECT key_digest FROM gateway_api_keys")
    assert issued["token"] not in {r[0] for r in rows}
    assert body["api_key"] not in {r[0] for r in keys}


async def test_a_new_claim_replaces_the_api_key_and_the_mqtt_token(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, _ = await gateway.device(owner)
    first = (await claim(gateway, (await issue(gateway, owner, device_id))["token"])).json()
    second = (await claim(gateway, (await issue(gateway, owner, device_id))["token"])).json()

    assert_problem(await ingest(gateway, first["api_key"], {"t": 1}), 401, "invalid_api_key")
    assert (await ingest(gateway, second["api_key"], {"t": 2})).status_code == 200
    assert not await accepts(gateway.emulator.mqtt_port, first["access_token"])
    assert await accepts(gateway.emulator.mqtt_port, second["access_token"])
    claims = await gateway.client.get(f"/gateway/devices/{device_id}/claims", headers=owner.headers)
    assert len(claims.json()["items"]) == 2


async def test_a_token_works_once(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, _ = await gateway.device(owner)
    token = (await issue(gateway, owner, device_id))["token"]
    assert (await claim(gateway, token)).status_code == 200
    assert_problem(await claim(gateway, token), 409, "provisioning_token_used")


async def test_an_expired_token_is_refused(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, old_token = await gateway.device(owner)
    issued = await issue(gateway, owner, device_id, lifetime_minutes=1)
    await gateway.execute(
        update(ProvisioningToken)
        .where(col(ProvisioningToken.device_id) == device_id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    assert_problem(await claim(gateway, issued["token"]), 410, "provisioning_token_expired")
    # Nothing changed on the device.
    assert await accepts(gateway.emulator.mqtt_port, old_token)


async def test_never_expires_only_when_asked_and_lifetimes_are_bounded(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, _ = await gateway.device(owner)
    assert (await issue(gateway, owner, device_id, never_expires=True))["expires_at"] is None
    url = f"/gateway/devices/{device_id}/provision"
    too_long = await gateway.client.post(url, json={"lifetime_minutes": 10**7}, headers=owner.headers)
    assert_problem(too_long, 422, "invalid_token_lifetime")
    both = await gateway.client.post(
        url, json={"lifetime_minutes": 5, "never_expires": True}, headers=owner.headers
    )
    assert_problem(both, 422, "invalid_token_lifetime")


async def test_someone_elses_device_is_invisible(gateway: Gateway) -> None:
    alice, mallory = await gateway.owner(), await gateway.owner()
    device_id, _ = await gateway.device(alice)
    for response in (
        await gateway.client.post(
            f"/gateway/devices/{device_id}/provision", json={}, headers=mallory.headers
        ),
        await gateway.client.get(f"/gateway/devices/{device_id}/telemetry/latest", headers=mallory.headers),
        await gateway.client.get(f"/gateway/devices/{device_id}/claims", headers=mallory.headers),
    ):
        assert_problem(response, 404, "device_not_found")
    unauthenticated = await gateway.client.post(f"/gateway/devices/{device_id}/provision", json={})
    assert unauthenticated.status_code == 401


async def test_wrong_tokens_throttle_the_guesser_not_its_neighbours(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, _ = await gateway.device(owner)
    good = (await issue(gateway, owner, device_id))["token"]
    # The defaults: after 20 wrong secrets from one address, its wrong secrets answer 429.
    statuses = []
    for _ in range(25):
        response = await claim(gateway, f"guess-{uuid.uuid4().hex}")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) > 0
            assert response.json()["code"] == "too_many_attempts"
            break
    assert statuses[0] == 401
    assert statuses[-1] == 429
    # A right token from the same address (a neighbour behind the same NAT) still works: the guesser
    # cannot lock it out.
    assert (await claim(gateway, good)).status_code == 200
    events = await gateway.sql(
        "SELECT outcome, reason FROM device_events WHERE flow = 'provisioning_token' AND action = 'claim'"
    )
    assert ("failed", "wrong_token") in {tuple(e) for e in events}
    assert ("throttled", "too_many_attempts") in {tuple(e) for e in events}


async def test_two_devices_racing_with_one_token_exactly_one_wins(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, _ = await gateway.device(owner)
    token = (await issue(gateway, owner, device_id))["token"]
    results = await asyncio.gather(claim(gateway, token), claim(gateway, token))
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["code"] == "provisioning_token_used"
    keys = await gateway.sql("SELECT count(*) FROM gateway_api_keys WHERE device_id = :d", d=device_id)
    assert keys[0][0] == 1


async def test_thingsboard_failing_mid_claim_leaves_the_token_usable(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, old_token = await gateway.device(owner)
    token = (await issue(gateway, owner, device_id))["token"]

    gateway.emulator.faults.rest_errors(status=503)
    failed = await claim(gateway, token)
    assert failed.status_code == 503, failed.text
    gateway.emulator.faults.clear()

    # Nothing half-made: no key was kept and the token was not spent.
    keys = await gateway.sql("SELECT count(*) FROM gateway_api_keys WHERE device_id = :d", d=device_id)
    assert keys[0][0] == 0
    deadline = time.monotonic() + 10
    while (retried := await claim(gateway, token)).status_code == 503:
        assert time.monotonic() < deadline, retried.text
    assert retried.status_code == 200, retried.text
    assert await accepts(gateway.emulator.mqtt_port, retried.json()["access_token"])
    assert not await accepts(gateway.emulator.mqtt_port, old_token)


async def test_ingest_refuses_bad_keys_and_bad_bodies(gateway: Gateway) -> None:
    owner = await gateway.owner()
    device_id, _ = await gateway.device(owner)
    body = (await claim(gateway, (await issue(gateway, owner, device_id))["token"])).json()
    no_header = await gateway.client.post("/gateway/device-data/ingest", json={"t": 1})
    assert_problem(no_header, 401, "invalid_api_key")
    assert no_header.headers["www-authenticate"].startswith("Bearer")
    assert_problem(await ingest(gateway, "not-a-key", {"t": 1}), 401, "invalid_api_key")
    assert_problem(await ingest(gateway, body["api_key"], {}), 422, "invalid_telemetry")
    # Found by schemathesis: a blank key, or an entry ThingsBoard refuses, is the device's mistake (422), not
    # an upstream failure (it was a 502).
    assert_problem(await ingest(gateway, body["api_key"], {"": False}), 422, "invalid_telemetry")
    assert_problem(await ingest(gateway, body["api_key"], {" \t": 1}), 422, "invalid_telemetry")
    assert (await ingest(gateway, body["api_key"], {"t ": 1})).status_code == 200
    # Found by schemathesis too: ThingsBoard drops a null reading and refuses a body left with none. A reading
    # has a value, so a null one is refused whatever sits beside it (the document says so).
    assert_problem(await ingest(gateway, body["api_key"], {"t": None}), 422, "invalid_telemetry")
    assert_problem(await ingest(gateway, body["api_key"], {"t": 3, "u": None}), 422, "invalid_telemetry")
    assert (await ingest(gateway, body["api_key"], {"t": {"nested": None}})).status_code == 200
    # Whatever else ThingsBoard refuses as a bad request is the data's fault too.
    gateway.emulator.faults.rest_errors(status=400)
    try:
        assert_problem(await ingest(gateway, body["api_key"], {"t": 2}), 422, "invalid_telemetry")
    finally:
        gateway.emulator.faults.clear()
