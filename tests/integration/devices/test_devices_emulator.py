"""Devices end to end against the ThingsBoard emulator over real HTTP and MQTT: ownership, credentials that a
device can really connect with, isolation between users, outages and compensation."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from paho.mqtt import client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.ext.asyncio import async_sessionmaker

from petit.app import create_app
from petit.devices.reconcile import Reconciler
from petit.devices.repositories import DeviceRepository
from petit.lib.clock import SystemClock
from petit.runtime import runtime_of
from tests.sqltext import scalar

if TYPE_CHECKING:
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine

    from petit.settings import Settings
    from petit.thingsboard.port import ThingsBoardPort
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

Serve = Callable[["Litestar"], AbstractAsyncContextManager[httpx.AsyncClient]]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _mqtt_accepts(port: int, token: str, timeout_s: float = 5.0) -> bool:
    answered = threading.Event()
    outcome: list[bool] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        outcome.append(not reason.is_failure)
        answered.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
    client.username_pw_set(token)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(timeout_s), "no CONNACK"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()


async def mqtt_accepts(port: int, token: str) -> bool:
    return await asyncio.to_thread(_mqtt_accepts, port, token)


@pytest.fixture
async def app(tb_settings: Settings) -> Litestar:
    return create_app(tb_settings)


@pytest.fixture
async def client(app: Litestar, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as http:
        yield http


def port_of(app: Litestar) -> ThingsBoardPort:
    port: ThingsBoardPort = runtime_of(app).thingsboard
    return port


async def platform_id(engine: AsyncEngine, device_id: str) -> uuid.UUID:
    async with engine.connect() as conn:
        value = await scalar(
            conn, "SELECT platform_device_id FROM devices WHERE id = :id", {"id": uuid.UUID(str(device_id))}
        )
    return uuid.UUID(str(value))


async def test_a_device_lives_in_its_owners_customer_and_its_credentials_connect(
    app: Litestar, client: httpx.AsyncClient, emulator: Emulator, signup: Any, db_engine: AsyncEngine
) -> None:
    account = await signup(client)
    owner = await port_of(app).find_owner(account.email)
    assert owner is not None
    assert owner.title == f"petit user {account.email}"

    response = await client.post(
        "/devices",
        json={"name": "Lamp", "label": "hall"},
        headers={**account.headers, "Idempotency-Key": "k1"},
    )
    assert response.status_code == 201, response.text
    device = response.json()
    record = await port_of(app).get_device(await platform_id(db_engine, device["id"]))
    assert record.owner_id == owner.owner_id
    assert record.name == f"petit-{device['id']}"
    assert record.label == "Lamp (hall)"

    credentials = (await client.get(f"/devices/{device['id']}/credentials", headers=account.headers)).json()
    assert (credentials["mqttHost"], credentials["mqttPort"]) == ("127.0.0.1", emulator.mqtt_port)
    assert await mqtt_accepts(emulator.mqtt_port, credentials["accessToken"])

    rotated = (
        await client.post(f"/devices/{device['id']}/credentials/rotate", headers=account.headers)
    ).json()
    assert rotated["accessToken"] != credentials["accessToken"]
    assert await mqtt_accepts(emulator.mqtt_port, rotated["accessToken"])
    assert not await mqtt_accepts(emulator.mqtt_port, credentials["accessToken"])

    assert (await client.delete(f"/devices/{device['id']}", headers=account.headers)).status_code == 204
    assert (await port_of(app).find_device(record.name)) is None
    assert not await mqtt_accepts(emulator.mqtt_port, rotated["accessToken"])


def _routes(device_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/devices/{device_id}", None),
        ("PATCH", f"/devices/{device_id}", {"name": "stolen"}),
        ("GET", f"/devices/{device_id}/credentials", None),
        ("POST", f"/devices/{device_id}/credentials/rotate", None),
        ("DELETE", f"/devices/{device_id}", None),
    ]


async def test_every_device_route_is_404_for_another_users_device_and_unknown_ids(
    client: httpx.AsyncClient, emulator: Emulator, signup: Any
) -> None:
    alice, bob = await signup(client, "alice"), await signup(client, "bob")
    device = (await client.post("/devices", json={"name": "lamp"}, headers=alice.headers)).json()
    credentials = (await client.get(f"/devices/{device['id']}/credentials", headers=alice.headers)).json()

    for intruder, device_id in ((bob, device["id"]), (alice, str(uuid.uuid4())), (bob, str(uuid.uuid4()))):
        for method, path, body in _routes(device_id):
            response = await client.request(method, path, json=body, headers=intruder.headers)
            assert_problem(response, 404, "device_not_found")
    assert (await client.get("/devices", headers=bob.headers)).json()["total"] == 0
    # Ids that are not UUIDs never reach a handler.
    assert (await client.get("/devices/not-a-uuid", headers=alice.headers)).status_code == 404

    # Nothing Bob tried touched Alice's device.
    assert (await client.get(f"/devices/{device['id']}", headers=alice.headers)).json() == device
    after = (await client.get(f"/devices/{device['id']}/credentials", headers=alice.headers)).json()
    assert after == credentials


async def test_platform_outage_is_a_bounded_503_and_petit_recovers(
    client: httpx.AsyncClient, emulator: Emulator, signup: Any, tb_settings: Settings
) -> None:
    account = await signup(client)
    device = (await client.post("/devices", json={"name": "lamp"}, headers=account.headers)).json()
    timeout_s = tb_settings.thingsboard.request_timeout_s
    for fault in (emulator.faults.rest_unavailable, partial(emulator.faults.rest_slow, 30)):
        fault()
        for method, path, body in [
            ("POST", "/devices", {"name": "heater"}),
            ("GET", f"/devices/{device['id']}/credentials", None),
        ]:
            started = time.monotonic()
            response = await client.request(method, path, json=body, headers=account.headers)
            elapsed = time.monotonic() - started
            assert_problem(response, 503, "thingsboard_unavailable")
            assert "retry-after" in response.headers
            # Within the configured timeout (plus scheduling slack), whatever is retried or cleaned up.
            assert elapsed < timeout_s + 1.5, f"{method} {path} took {elapsed:.1f}s"
        emulator.faults.clear()

    deadline = time.monotonic() + 10
    while (
        await client.post("/devices", json={"name": "heater"}, headers=account.headers)
    ).status_code != 201:
        assert time.monotonic() < deadline, "petit did not recover after ThingsBoard came back"
    assert (await client.get("/devices", headers=account.headers)).json()["total"] == 2


async def test_signup_during_an_outage_links_on_next_use(
    app: Litestar, client: httpx.AsyncClient, emulator: Emulator, signup: Any, db_engine: AsyncEngine
) -> None:
    emulator.faults.rest_unavailable()
    account = await signup(client)
    async with db_engine.connect() as conn:
        state = await scalar(
            conn, "SELECT platform_link_state FROM users WHERE id = :id", {"id": uuid.UUID(str(account.id))}
        )
    assert state == "pending"
    emulator.faults.clear()
    response = await client.post("/devices", json={"name": "lamp"}, headers=account.headers)
    assert response.status_code == 201, response.text
    assert await port_of(app).find_owner(account.email) is not None


async def test_a_failed_row_insert_is_compensated_and_reconcile_cleans_up_what_compensation_could_not(
    app: Litestar,
    client: httpx.AsyncClient,
    emulator: Emulator,
    signup: Any,
    db_engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = await signup(client)
    original_add = DeviceRepository.add

    async def failing_add(self: DeviceRepository, device: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(DeviceRepository, "add", failing_add)
    assert_problem(
        await client.post("/devices", json={"name": "lamp"}, headers=account.headers), 500, "internal_error"
    )
    tenant = await port_of(app).list_devices(owner_id=None)
    assert [r.name for r in tenant.items if r.name.startswith("petit-")] == []

    # Now ThingsBoard also goes away between the create and the compensation: the device is stranded.
    async def failing_add_and_outage(self: DeviceRepository, device: Any) -> Any:
        emulator.faults.rest_unavailable()
        raise RuntimeError("database went away")

    monkeypatch.setattr(DeviceRepository, "add", failing_add_and_outage)
    assert_problem(
        await client.post("/devices", json={"name": "lamp"}, headers=account.headers), 500, "internal_error"
    )
    emulator.faults.clear()
    monkeypatch.setattr(DeviceRepository, "add", original_add)
    tenant = await port_of(app).list_devices(owner_id=None)
    stranded = [r for r in tenant.items if r.name.startswith("petit-")]
    assert len(stranded) == 1

    sessionmaker = async_sessionmaker(db_engine, expire_on_commit=False)
    reconciler = Reconciler(
        sessionmaker, port_of(app), SystemClock(), grace_s=0, wall_clock=lambda: time.time() + 1
    )
    report = await reconciler.run(dry_run=False)
    assert report.orphan_platform_devices == [stranded[0].id]
    tenant = await port_of(app).list_devices(owner_id=None)
    assert [r.name for r in tenant.items if r.name.startswith("petit-")] == []
    # And the user can create the device normally afterwards.
    assert (await client.post("/devices", json={"name": "lamp"}, headers=account.headers)).status_code == 201
