"""ThingsBoard failing in the middle of completing a pairing or a claim, with the in-memory fake: nothing is
left half-made, and the next attempt finishes the job."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import httpx
import pytest
from litestar import Litestar
from sqlmodel import select

from petit.app import create_app
from petit.db.models import Device, Pairing
from petit.runtime import runtime_of
from petit.thingsboard.errors import ThingsBoardUnavailableError
from tests.fakes.thingsboard import FakeThingsBoard

if TYPE_CHECKING:
    from petit.settings import Settings

pytestmark = pytest.mark.integration

Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]


async def _user(client: httpx.AsyncClient) -> dict[str, str]:
    email, password = f"fault-{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4().hex
    assert (await client.post("/auth/signup", json={"email": email, "password": password})).status_code == 201
    login = await client.post("/auth/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


@pytest.fixture
def fake_settings(make_settings: Callable[..., Settings]) -> Settings:
    # A watcher that never runs on its own: the test drives every round itself.
    return make_settings(ownership={"pairing_watch_interval_s": 60})


async def test_failure_while_completing_leaves_the_pairing_open_then_completes(
    fake_settings: Settings, serve: Serve
) -> None:
    fake = FakeThingsBoard()
    app = create_app(fake_settings, thingsboard=fake)
    async with serve(app) as client:
        headers = await _user(client)
        started = (await client.post("/pairings", json={"name": "lamp"}, headers=headers)).json()
        pairing_id = uuid.UUID(started["pairingId"])
        async with runtime_of(app).sessionmaker() as session:
            pairing = await session.get(Pairing, pairing_id)
            assert pairing is not None
            platform_id = pairing.platform_device_id
        fake.devices[platform_id].attributes["reported"]["pairKey"] = started["pairKey"]

        fake.fail_next("update_device", ThingsBoardUnavailableError("down mid-flow"))
        await runtime_of(app).pairing_watcher.tick()
        async with runtime_of(app).sessionmaker() as session:
            pairing = await session.get(Pairing, pairing_id)
            assert pairing is not None
            assert pairing.state == "pending"
            assert (await session.execute(select(Device))).scalars().all() == []

        await runtime_of(app).pairing_watcher.tick()
        body = (await client.get(f"/pairings/{pairing_id}", headers=headers)).json()
        assert body["state"] == "completed"
        assert fake.devices[platform_id].record.name == f"petit-{body['deviceId']}"
        assert "pairKey" not in fake.devices[platform_id].attributes["reported"]


async def test_start_fails_cleanly_when_the_platform_drops_after_creating_the_device(
    fake_settings: Settings, serve: Serve
) -> None:
    fake = FakeThingsBoard()
    app = create_app(fake_settings, thingsboard=fake)
    async with serve(app) as client:
        headers = await _user(client)
        fake.fail_next("show_status", ThingsBoardUnavailableError("down mid-flow"))
        response = await client.post("/pairings", json={"name": "lamp"}, headers=headers)
        assert response.status_code == 503
        assert fake.devices == {}
        async with runtime_of(app).sessionmaker() as session:
            assert (await session.execute(select(Pairing))).scalars().all() == []


async def test_a_device_owned_only_on_the_platform_cannot_be_claimed(
    fake_settings: Settings, serve: Serve
) -> None:
    """ThingsBoard's reclaim hole (issue 6742) would let a customer unassign someone else's device and claim
    it; petit refuses any device that has an owner anywhere, before ThingsBoard is asked."""
    fake = FakeThingsBoard()
    app = create_app(fake_settings, thingsboard=fake)
    async with serve(app) as client:
        headers = await _user(client)
        other = await fake.ensure_owner("someone-else@example.com")
        record = await fake.create_device("owned-box", owner_id=other.owner_id)
        code = (await client.post("/claims/codes", headers=headers)).json()["claimCode"]
        fake.register_claim("owned-box", code)
        response = await client.post(
            "/claims", json={"deviceName": "owned-box", "claimCode": code}, headers=headers
        )
        assert (response.status_code, response.json()["code"]) == (409, "device_already_owned")
        assert "claim_device" not in fake.calls
        assert "release_device" not in fake.calls
        assert fake.devices[record.id].record.owner_id == other.owner_id
