"""``petit reconcile`` finds each kind of drift, reports it in a dry run, and repairs it otherwise."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from petit.app import create_app
from petit.devices.reconcile import Reconciler
from petit.lib.clock import SystemClock
from petit.thingsboard.errors import ThingsBoardUnavailableError
from tests import sqltext
from tests.fakes.thingsboard import FakeThingsBoard

if TYPE_CHECKING:
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from petit.settings import Settings

pytestmark = pytest.mark.integration

Serve = Callable[["Litestar"], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def fake() -> FakeThingsBoard:
    return FakeThingsBoard()


@pytest.fixture
async def client(settings: Settings, fake: FakeThingsBoard, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings, thingsboard=fake)) as http:
        yield http


def reconciler(engine: AsyncEngine, fake: FakeThingsBoard, *, grace_s: float = 0.0) -> Reconciler:
    sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)
    # The wall clock runs a second ahead so that devices created a moment ago are already past the grace.
    return Reconciler(sessionmaker, fake, SystemClock(), grace_s=grace_s, wall_clock=lambda: time.time() + 1)


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return await sqltext.scalar(conn, sql, params)


async def test_a_consistent_world_has_no_drift(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, db_engine: AsyncEngine
) -> None:
    account = await signup(client)
    assert (await client.post("/devices", json={"name": "lamp"}, headers=account.headers)).status_code == 201
    await fake.create_device("operator-thing", owner_id=None)  # not petit's: left alone
    report = await reconciler(db_engine, fake).run(dry_run=False)
    assert report.drift == 0
    assert report.errors == []
    assert len(fake.devices) == 2


async def test_each_kind_of_drift_is_reported_then_repaired(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, db_engine: AsyncEngine
) -> None:
    alice = await signup(client)
    kept = (await client.post("/devices", json={"name": "kept"}, headers=alice.headers)).json()
    vanished = (await client.post("/devices", json={"name": "vanished"}, headers=alice.headers)).json()
    moved = (await client.post("/devices", json={"name": "moved"}, headers=alice.headers)).json()
    async with db_engine.connect() as conn:
        pairs = await sqltext.fetch(conn, "SELECT id, platform_device_id FROM devices")
    platform_of = {str(row_id): platform_id for row_id, platform_id in pairs}
    # 1. a platform device whose row never got written (crash between the two writes)
    orphan = await fake.create_device(f"petit-{uuid.uuid4()}", owner_id=None)
    # 2. a row whose platform device was deleted by hand
    del fake.devices[platform_of[vanished["id"]]]
    # 3. a device an operator moved to the tenant
    await fake.unassign_device(platform_of[moved["id"]])
    # 4. a user who signed up while the platform was down
    fake.down = True
    bob = await signup(client)
    fake.down = False

    dry = await reconciler(db_engine, fake).run(dry_run=True)
    assert dry.orphan_platform_devices == [orphan.id]
    assert dry.rows_without_device == [uuid.UUID(vanished["id"])]
    assert dry.reassigned_devices == [uuid.UUID(moved["id"])]
    assert dry.users_linked == [bob.id]
    # A dry run changes nothing.
    assert orphan.id in fake.devices
    assert await scalar(db_engine, "SELECT count(*) FROM devices") == 3
    assert fake.devices[platform_of[moved["id"]]].record.owner_id is None

    fixed = await reconciler(db_engine, fake).run(dry_run=False)
    assert (fixed.orphan_platform_devices, fixed.rows_without_device) == (
        [orphan.id],
        [uuid.UUID(vanished["id"])],
    )
    assert fixed.reassigned_devices == [uuid.UUID(moved["id"])]
    # The app's background link pass may reach bob first on a slow run; either way bob ends linked (below).
    assert fixed.users_linked in ([bob.id], [])
    assert orphan.id not in fake.devices
    assert await scalar(db_engine, "SELECT count(*) FROM devices") == 2
    owner = await scalar(db_engine, "SELECT platform_owner_id FROM users WHERE id = :id", id=alice.id)
    assert fake.devices[platform_of[moved["id"]]].record.owner_id == owner
    assert (
        await scalar(db_engine, "SELECT platform_link_state FROM users WHERE id = :id", id=bob.id) == "linked"
    )
    assert (await client.get(f"/devices/{kept['id']}", headers=alice.headers)).status_code == 200

    again = await reconciler(db_engine, fake).run(dry_run=False)
    assert again.drift == 0


async def test_young_platform_devices_are_left_to_their_create(
    client: httpx.AsyncClient, fake: FakeThingsBoard, db_engine: AsyncEngine
) -> None:
    orphan = await fake.create_device(f"petit-{uuid.uuid4()}", owner_id=None)
    report = await reconciler(db_engine, fake, grace_s=600).run(dry_run=False)
    assert report.orphan_platform_devices == []
    assert orphan.id in fake.devices


async def test_a_platform_outage_is_reported_not_raised(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, db_engine: AsyncEngine
) -> None:
    fake.down = True
    account = await signup(client)
    report = await reconciler(db_engine, fake).run(dry_run=False)
    assert report.errors
    assert report.users_pending == [account.id]
    fake.fail_next("list_devices", ThingsBoardUnavailableError("down"))
    fake.down = False
    report = await reconciler(db_engine, fake).run(dry_run=False)
    assert report.users_linked == [account.id]
    assert report.errors
