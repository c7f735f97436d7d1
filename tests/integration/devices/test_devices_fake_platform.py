"""The devices API over HTTP on real PostgreSQL and an in-memory ThingsBoard, failures injected precisely."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from petit.app import create_app
from petit.devices.repositories import DeviceRepository
from petit.thingsboard.errors import ThingsBoardNotFoundError, ThingsBoardUnavailableError
from tests.fakes.thingsboard import FakeThingsBoard
from tests.sqltext import fetch

if TYPE_CHECKING:
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine

    from petit.settings import Settings

pytestmark = pytest.mark.integration

Serve = Callable[["Litestar"], AbstractAsyncContextManager[httpx.AsyncClient]]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


@pytest.fixture
def fake() -> FakeThingsBoard:
    return FakeThingsBoard(mqtt_host="mqtt.petit.test", mqtt_port=18830)


@pytest.fixture
async def client(settings: Settings, fake: FakeThingsBoard, serve: Serve) -> Any:
    async with serve(create_app(settings, thingsboard=fake)) as http:
        yield http


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return await fetch(conn, sql, params)


async def test_signup_creates_a_customer_titled_after_the_user(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, db_engine: AsyncEngine
) -> None:
    account = await signup(client)
    owners = [o for o in fake.owners.values() if o.email == account.email]
    assert len(owners) == 1
    assert owners[0].title == f"petit user {account.email}"
    [(owner_id, account_id, state)] = await rows(
        db_engine,
        "SELECT platform_owner_id, platform_account_id, platform_link_state FROM users WHERE id = :id",
        id=account.id,
    )
    assert (owner_id, account_id, state) == (owners[0].owner_id, owners[0].account_id, "linked")


async def test_signup_succeeds_while_the_platform_is_down_and_the_next_use_links(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, db_engine: AsyncEngine
) -> None:
    fake.down = True
    account = await signup(client)
    [(state,)] = await rows(db_engine, "SELECT platform_link_state FROM users WHERE id = :id", id=account.id)
    assert state == "pending"
    assert fake.owners == {}

    response = await client.post("/devices", json={"name": "lamp"}, headers=account.headers)
    assert_problem(response, 503, "thingsboard_unavailable")
    assert response.headers["retry-after"].isdigit()

    fake.down = False
    response = await client.post("/devices", json={"name": "lamp"}, headers=account.headers)
    assert response.status_code == 201, response.text
    [(state, owner_id)] = await rows(
        db_engine, "SELECT platform_link_state, platform_owner_id FROM users WHERE id = :id", id=account.id
    )
    assert state == "linked"
    [device] = fake.devices.values()
    assert device.record.owner_id == owner_id


async def test_the_background_task_links_users_who_signed_up_during_an_outage(
    settings: Settings, fake: FakeThingsBoard, signup: Any, db_engine: AsyncEngine, serve: Serve
) -> None:
    fake.down = True
    async with serve(create_app(settings, thingsboard=fake)) as http:
        account = await signup(http)
    fake.down = False
    # A fresh process: its lifespan starts the link task, whose first pass runs at once.
    async with serve(create_app(settings, thingsboard=fake)):
        deadline = time.monotonic() + 10
        while True:
            [(state,)] = await rows(
                db_engine, "SELECT platform_link_state FROM users WHERE id = :id", id=account.id
            )
            if state == "linked":
                break
            assert time.monotonic() < deadline, "the background task never linked the user"
            await asyncio.sleep(0.05)
    assert [o.email for o in fake.owners.values()] == [account.email]


async def test_a_half_made_owner_is_completed_not_duplicated(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    fake.fail_next("ensure_owner", ThingsBoardUnavailableError("lost mid-way"))
    account = await signup(client)
    for _ in range(2):
        response = await client.post(
            "/devices", json={"name": f"d-{uuid.uuid4().hex[:6]}"}, headers=account.headers
        )
        assert response.status_code == 201, response.text
    assert len([o for o in fake.owners.values() if o.email == account.email]) == 1


async def test_device_lifecycle(client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any) -> None:
    account = await signup(client)
    response = await client.post(
        "/devices",
        json={"name": "  Kitchen lamp ", "label": "by the window", "metadata": {"room": "kitchen"}},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "Kitchen lamp"
    assert created["label"] == "by the window"
    assert created["metadata"] == {"room": "kitchen"}
    device_id = created["id"]
    [platform] = fake.devices.values()
    assert platform.record.name == f"petit-{device_id}"
    assert platform.record.label == "Kitchen lamp (by the window)"

    response = await client.get(f"/devices/{device_id}", headers=account.headers)
    assert response.json() == created

    response = await client.get("/devices", headers=account.headers)
    assert response.json() == {"items": [created], "total": 1, "limit": 50, "offset": 0}

    response = await client.patch(
        f"/devices/{device_id}", json={"name": "Desk lamp", "label": None}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["label"]) == ("Desk lamp", None)
    assert response.json()["metadata"] == {"room": "kitchen"}
    assert platform.record.label == "Desk lamp"

    response = await client.get(f"/devices/{device_id}/credentials", headers=account.headers)
    credentials = response.json()
    assert credentials == {
        "deviceId": device_id,
        "accessToken": platform.token,
        "mqttHost": "mqtt.petit.test",
        "mqttPort": 18830,
    }
    response = await client.post(f"/devices/{device_id}/credentials/rotate", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["accessToken"] != credentials["accessToken"]
    assert response.json()["accessToken"] == platform.token

    response = await client.delete(f"/devices/{device_id}", headers=account.headers)
    assert response.status_code == 204
    assert fake.devices == {}
    assert_problem(
        await client.get(f"/devices/{device_id}", headers=account.headers), 404, "device_not_found"
    )


async def test_list_pages_with_a_total(client: httpx.AsyncClient, signup: Any) -> None:
    account = await signup(client)
    names = [f"dev {i}" for i in range(5)]
    for name in names:
        assert (
            await client.post("/devices", json={"name": name}, headers=account.headers)
        ).status_code == 201
    seen: list[str] = []
    for offset in (0, 2, 4):
        page = (await client.get(f"/devices?limit=2&offset={offset}", headers=account.headers)).json()
        assert page["total"] == 5
        seen += [item["name"] for item in page["items"]]
    assert seen == names
    assert_problem(await client.get("/devices?limit=0", headers=account.headers), 422, "validation_failed")
    assert_problem(await client.get("/devices?limit=101", headers=account.headers), 422, "validation_failed")


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": "line\nbreak"},
        {"name": "bell\x07"},
        {"name": 42},
        {},
        {"name": "ok", "label": "y" * 129},
        {"name": "ok", "label": "tab\there"},
        {"name": "ok", "metadata": {"blob": "z" * 5000}},
        {"name": "ok", "unknown": 1},
    ],
)
async def test_invalid_names_and_labels_are_refused(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, body: dict[str, Any]
) -> None:
    account = await signup(client)
    assert_problem(
        await client.post("/devices", json=body, headers=account.headers), 422, "validation_failed"
    )
    assert fake.devices == {}


async def test_names_are_unique_per_owner_only(client: httpx.AsyncClient, signup: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    assert (await client.post("/devices", json={"name": "lamp"}, headers=alice.headers)).status_code == 201
    assert_problem(
        await client.post("/devices", json={"name": " lamp "}, headers=alice.headers),
        409,
        "device_name_taken",
    )
    assert (await client.post("/devices", json={"name": "lamp"}, headers=bob.headers)).status_code == 201
    other = (await client.post("/devices", json={"name": "other"}, headers=alice.headers)).json()
    assert_problem(
        await client.patch(f"/devices/{other['id']}", json={"name": "lamp"}, headers=alice.headers),
        409,
        "device_name_taken",
    )


async def test_idempotency_key_replays_and_refuses_a_different_body(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    alice, bob = await signup(client), await signup(client)
    key = {"Idempotency-Key": "create-1"}
    first = await client.post("/devices", json={"name": "lamp"}, headers={**alice.headers, **key})
    again = await client.post("/devices", json={"name": "lamp"}, headers={**alice.headers, **key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(fake.devices) == 1

    assert_problem(
        await client.post("/devices", json={"name": "heater"}, headers={**alice.headers, **key}),
        409,
        "idempotency_key_reused",
    )
    # Keys are per user: Bob's identical key is a different request.
    bobs = await client.post("/devices", json={"name": "lamp"}, headers={**bob.headers, **key})
    assert bobs.status_code == 201
    assert bobs.json()["id"] != first.json()["id"]


async def test_concurrent_requests_with_one_key_create_one_device(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    account = await signup(client)
    headers = {**account.headers, "Idempotency-Key": uuid.uuid4().hex}
    responses = await asyncio.gather(
        *(client.post("/devices", json={"name": "lamp"}, headers=headers) for _ in range(4))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(fake.devices) == 1


async def test_a_failed_key_can_be_retried(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    account = await signup(client)
    headers = {**account.headers, "Idempotency-Key": "retry-me"}
    fake.fail_next("create_device", ThingsBoardUnavailableError("down", request_sent=False))
    assert_problem(
        await client.post("/devices", json={"name": "lamp"}, headers=headers), 503, "thingsboard_unavailable"
    )
    assert (await client.post("/devices", json={"name": "lamp"}, headers=headers)).status_code == 201


async def test_platform_create_failing_leaves_no_row(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, db_engine: AsyncEngine
) -> None:
    account = await signup(client)
    fake.fail_next("create_device", ThingsBoardUnavailableError("answer lost", request_sent=True))
    assert_problem(
        await client.post("/devices", json={"name": "lamp"}, headers=account.headers),
        503,
        "thingsboard_unavailable",
    )
    assert await rows(db_engine, "SELECT id FROM devices") == []
    assert fake.devices == {}


async def test_a_lost_create_answer_is_cleaned_up_on_the_platform(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await signup(client)
    original = fake.create_device

    async def created_then_lost(*args: Any, **kwargs: Any) -> Any:
        await original(*args, **kwargs)
        raise ThingsBoardUnavailableError("timed out after the platform created it")

    monkeypatch.setattr(fake, "create_device", created_then_lost)
    assert_problem(
        await client.post("/devices", json={"name": "lamp"}, headers=account.headers),
        503,
        "thingsboard_unavailable",
    )
    # The cleanup runs after the answer, so the client's 503 is not delayed by it.
    deadline = time.monotonic() + 5
    while fake.devices:
        assert time.monotonic() < deadline, "the lost device was never cleaned up"
        await asyncio.sleep(0.01)


async def test_a_failed_row_insert_deletes_the_platform_device(
    client: httpx.AsyncClient,
    fake: FakeThingsBoard,
    signup: Any,
    monkeypatch: pytest.MonkeyPatch,
    db_engine: AsyncEngine,
) -> None:
    account = await signup(client)

    async def broken_add(self: DeviceRepository, device: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(DeviceRepository, "add", broken_add)
    assert_problem(
        await client.post("/devices", json={"name": "lamp"}, headers=account.headers), 500, "internal_error"
    )
    assert "delete_device" in fake.calls
    assert fake.devices == {}
    assert await rows(db_engine, "SELECT id FROM devices") == []


async def test_a_failed_platform_delete_keeps_the_row(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    account = await signup(client)
    device = (await client.post("/devices", json={"name": "lamp"}, headers=account.headers)).json()
    fake.fail_next("delete_device", ThingsBoardUnavailableError("down"))
    assert_problem(
        await client.delete(f"/devices/{device['id']}", headers=account.headers),
        503,
        "thingsboard_unavailable",
    )
    assert (await client.get(f"/devices/{device['id']}", headers=account.headers)).status_code == 200
    assert len(fake.devices) == 1


async def test_a_failed_platform_rename_keeps_the_old_name(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    account = await signup(client)
    device = (await client.post("/devices", json={"name": "lamp"}, headers=account.headers)).json()
    fake.fail_next("update_device", ThingsBoardUnavailableError("down"))
    response = await client.patch(
        f"/devices/{device['id']}", json={"name": "heater"}, headers=account.headers
    )
    assert_problem(response, 503, "thingsboard_unavailable")
    assert (await client.get(f"/devices/{device['id']}", headers=account.headers)).json()["name"] == "lamp"


async def test_a_row_whose_platform_device_vanished_reads_as_not_found(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    account = await signup(client)
    device = (await client.post("/devices", json={"name": "lamp"}, headers=account.headers)).json()
    fake.fail_next("get_credentials", ThingsBoardNotFoundError("gone", status=404))
    response = await client.get(f"/devices/{device['id']}/credentials", headers=account.headers)
    assert_problem(response, 404, "device_not_found")


async def test_platform_down_is_503_for_routes_that_need_it_only(
    client: httpx.AsyncClient, fake: FakeThingsBoard, signup: Any
) -> None:
    account = await signup(client)
    device = (await client.post("/devices", json={"name": "lamp"}, headers=account.headers)).json()
    fake.down = True
    for method, path in [
        ("POST", "/devices"),
        ("GET", f"/devices/{device['id']}/credentials"),
        ("POST", f"/devices/{device['id']}/credentials/rotate"),
        ("DELETE", f"/devices/{device['id']}"),
    ]:
        body = {"name": "other"} if path == "/devices" else None
        response = await client.request(method, path, json=body, headers=account.headers)
        assert_problem(response, 503, "thingsboard_unavailable")
        assert int(response.headers["retry-after"]) >= 1
    # Reads that petit answers from its own database keep working.
    assert (await client.get("/devices", headers=account.headers)).json()["total"] == 1
    assert (await client.get(f"/devices/{device['id']}", headers=account.headers)).status_code == 200
    fake.down = False
    assert (
        await client.get(f"/devices/{device['id']}/credentials", headers=account.headers)
    ).status_code == 200


async def test_every_route_needs_a_token(client: httpx.AsyncClient) -> None:
    device_id = uuid.uuid4()
    for method, path in _routes(device_id):
        response = await client.request(method, path, json=_body(method, path))
        assert_problem(response, 401, "not_authenticated")


def _routes(device_id: uuid.UUID | str) -> list[tuple[str, str]]:
    return [
        ("GET", "/devices"),
        ("POST", "/devices"),
        ("GET", f"/devices/{device_id}"),
        ("PATCH", f"/devices/{device_id}"),
        ("DELETE", f"/devices/{device_id}"),
        ("GET", f"/devices/{device_id}/credentials"),
        ("POST", f"/devices/{device_id}/credentials/rotate"),
    ]


def _body(method: str, path: str) -> dict[str, Any] | None:
    if method == "POST" and path == "/devices":
        return {"name": "x"}
    if method == "PATCH":
        return {"name": "renamed"}
    return None
