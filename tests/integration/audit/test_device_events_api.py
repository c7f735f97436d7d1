"""ListDeviceEvents: the owner reads their device's audit trail, paged, newest first; nobody else can."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from litestar import Litestar

from petit.app import create_app
from petit.audit.services import DeviceEventService, Outcome
from petit.db.models import Device
from petit.runtime import runtime_of
from tests.fakes.thingsboard import FakeThingsBoard

if TYPE_CHECKING:
    from petit.settings import Settings

pytestmark = pytest.mark.integration

Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]


async def _user(client: httpx.AsyncClient) -> tuple[uuid.UUID, dict[str, str]]:
    email, password = f"audit-{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4().hex
    signup = await client.post("/auth/signup", json={"email": email, "password": password})
    login = await client.post("/auth/login", json={"email": email, "password": password})
    return uuid.UUID(signup.json()["id"]), {"Authorization": f"Bearer {login.json()['accessToken']}"}


async def test_owner_pages_through_events_and_others_see_nothing(settings: Settings, serve: Serve) -> None:
    app = create_app(settings, thingsboard=FakeThingsBoard())
    async with serve(app) as client:
        owner_id, owner = await _user(client)
        _, stranger = await _user(client)
        platform_id = uuid.uuid4()
        now = datetime.now(UTC)
        device = Device(
            owner_id=owner_id, platform_device_id=platform_id, name="box", created_at=now, updated_at=now
        )
        async with runtime_of(app).sessionmaker() as session:
            session.add(device)
            await session.commit()
        async with runtime_of(app).sessionmaker() as session:
            # Before the device was theirs, by someone else: not the owner's business.
            stale = await DeviceEventService(session=session, clock=runtime_of(app).clock).record(
                flow="claim",
                action="claim",
                outcome=Outcome.FAILED,
                platform_device_id=platform_id,
                client_ip="10.9.9.9",
            )
            await session.commit()
        async with runtime_of(app).sessionmaker() as session:
            row = await session.get(type(stale), stale.id)
            assert row is not None
            row.occurred_at = now - timedelta(days=1)
            await session.commit()
        async with runtime_of(app).sessionmaker() as session:
            events = DeviceEventService(session=session, clock=runtime_of(app).clock)
            for i in range(5):
                await events.record(
                    flow="provisioning",
                    action=f"step-{i}",
                    outcome=Outcome.SUCCEEDED,
                    platform_device_id=platform_id,
                    client_ip="198.51.100.4",
                    details={"n": i, "token": "must-not-be-stored"},
                )
            await session.commit()

        page = await client.get(f"/devices/{device.id}/events?limit=2&offset=1", headers=owner)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["total"] == 5
        assert [e["action"] for e in body["items"]] == ["step-3", "step-2"]
        assert body["items"][0]["details"] == {"n": 3}
        assert body["items"][0]["clientIp"] == "198.51.100.4"

        assert (await client.get(f"/devices/{device.id}/events", headers=stranger)).status_code == 404
        assert (await client.get(f"/devices/{device.id}/events")).status_code == 401
        assert (await client.get(f"/devices/{device.id}/events?limit=0", headers=owner)).status_code == 422
