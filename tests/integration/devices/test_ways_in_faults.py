"""Every way a device joins an account, with ThingsBoard losing its answer at each step.

The port below is the real adapter talking to the emulator over HTTP; on the chosen step it lets the call
reach ThingsBoard and then loses the answer (the worst case: ThingsBoard did it, petit does not know). Each
case asserts a clear 503 problem, nothing half-made in petit or ThingsBoard once the in-process sweeper had
its turn, and success when the client retries. Runs on every database backend the suite runs on.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from petit.app import create_app
from petit.runtime import runtime_of
from petit.settings import ProvisioningSettings
from petit.thingsboard.client import ThingsBoardClient
from petit.thingsboard.errors import ThingsBoardUnavailableError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

    from litestar import Litestar

    from petit.settings import Settings

    Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]

pytestmark = pytest.mark.integration


class LosesOneAnswer:
    """Delegates to the real port; the first call of ``method`` is carried out, then its answer is lost."""

    def __init__(self, inner: ThingsBoardClient, url: str) -> None:
        self.inner = inner
        self.inner_url = url
        self.method: str | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        async def lost(*args: Any, **kwargs: Any) -> Any:
            self.method = None
            await attr(*args, **kwargs)
            raise ThingsBoardUnavailableError("answer lost", request_sent=True)

        return lost


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {within} s")
        await asyncio.sleep(0.1)


class World:
    def __init__(self, app: Litestar, http: httpx.AsyncClient, port: LosesOneAnswer) -> None:
        self.app = app
        self.http = http
        self.port = port

    async def user(self) -> dict[str, str]:
        email, password = f"ways-{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4().hex
        assert (await self.http.post("/auth/signup", json={"email": email, "password": password})).is_success
        login = await self.http.post("/auth/login", json={"email": email, "password": password})
        return {"Authorization": f"Bearer {login.json()['accessToken']}"}

    async def platform_names(self, prefix: str) -> set[str]:
        page = await self.port.inner.list_devices(page_size=1000)
        return {d.name for d in page.items if d.name.startswith(prefix)}

    async def swept_clean(self) -> bool:
        sweeper = runtime_of(self.app).sweeper
        assert sweeper is not None
        await sweeper.sweep()
        async with runtime_of(self.app).sessionmaker() as session:
            from sqlalchemy import func, select  # noqa: PLC0415

            from petit.db.models import DeviceIntent  # noqa: PLC0415

            left = await session.scalar(select(func.count()).select_from(DeviceIntent))
        return left == 0


@pytest.fixture
async def world(tb_settings: Settings, serve: Serve) -> AsyncIterator[World]:
    keys = {"device_key": f"pk-{secrets.token_hex(6)}", "device_secret": f"ps-{secrets.token_hex(12)}"}
    settings = tb_settings.model_copy(
        update={
            "provisioning": ProvisioningSettings.model_validate(keys),
            # Old enough to sweep at once: these tests wait for no request in flight.
            "ownership": tb_settings.ownership.model_copy(
                update={"intent_grace_s": 1.0, "intent_sweep_interval_s": 600.0}
            ),
        }
    )
    inner = ThingsBoardClient(settings.thingsboard.client_config(settings.redis.key_prefix))
    port = LosesOneAnswer(inner, settings.thingsboard.url or "")
    app = create_app(settings, thingsboard=port)  # type: ignore[arg-type]
    try:
        async with serve(app) as http:
            w = World(app, http, port)
            w.keys = keys  # type: ignore[attr-defined]
            yield w
    finally:
        await inner.aclose()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Retry-After" in response.headers


@pytest.mark.parametrize("step", ["create_device", "get_credentials"])
async def test_create_device(world: World, step: str) -> None:
    owner = await world.user()
    before = await world.platform_names("petit-")
    world.port.method = step
    assert_unavailable(await world.http.post("/devices", json={"name": "lamp"}, headers=owner))
    assert (await world.http.get("/devices", headers=owner)).json()["total"] == 0
    await eventually(world.swept_clean, what="intent swept")
    assert await world.platform_names("petit-") == before

    retry = await world.http.post("/devices", json={"name": "lamp"}, headers=owner)
    assert retry.status_code == 201, retry.text
    assert len(await world.platform_names("petit-")) == len(before) + 1


@pytest.mark.parametrize("step", ["create_device", "get_credentials", "show_status"])
async def test_pairing_start(world: World, step: str) -> None:
    owner = await world.user()
    world.port.method = step
    assert_unavailable(await world.http.post("/pairings", json={"name": "lamp"}, headers=owner))
    await eventually(world.swept_clean, what="intent swept")
    assert await world.platform_names("petit-pairing-") == set()

    retry = await world.http.post("/pairings", json={"name": "lamp"}, headers=owner)
    assert retry.status_code == 201, retry.text
    assert len(await world.platform_names("petit-pairing-")) == 1
    cancel = await world.http.delete(f"/pairings/{retry.json()['pairingId']}", headers=owner)
    assert cancel.status_code == 204, cancel.text
    assert await world.platform_names("petit-pairing-") == set()


@pytest.mark.parametrize("step", ["create_device", "get_credentials", "show_status"])
async def test_mac_provisioning(world: World, step: str) -> None:
    keys: dict[str, str] = world.keys  # type: ignore[attr-defined]
    mac = secrets.token_hex(6).upper()
    body = {
        "macAddress": mac,
        "provisionDeviceKey": keys["device_key"],
        "provisionDeviceSecret": keys["device_secret"],
    }
    world.port.method = step
    assert_unavailable(await world.http.post("/provisioning/devices", json=body))
    # The device retries at once: petit's own unfinished attempt must not lock its MAC out.
    retry = await world.http.post("/provisioning/devices", json=body)
    assert retry.status_code in {200, 201}, retry.text
    await eventually(world.swept_clean, what="intent swept")
    assert await world.platform_names(mac) == {mac}
    record = await world.port.inner.find_device(mac)
    assert record is not None
    credentials = await world.port.inner.get_credentials(record.id)
    assert credentials.access_token == retry.json()["accessToken"]


@pytest.mark.parametrize("step", ["show_status", "rotate_credentials"])
async def test_gateway_claim_delivers_or_keeps_the_old_token(world: World, step: str) -> None:
    owner = await world.user()
    device = (await world.http.post("/devices", json={"name": "meter"}, headers=owner)).json()
    old = (await world.http.get(f"/devices/{device['id']}/credentials", headers=owner)).json()["accessToken"]
    token = (
        await world.http.post(f"/gateway/devices/{device['id']}/provision", json={}, headers=owner)
    ).json()["token"]
    platform = await world.port.inner.find_device(f"petit-{device['id']}")
    assert platform is not None

    world.port.method = step
    assert_unavailable(await world.http.post("/gateway/devices/claim", json={"token": token}))
    current = (await world.port.inner.get_credentials(platform.id)).access_token
    if step == "show_status":
        assert current == old  # nothing rotated: the old token still works

    retry = await world.http.post("/gateway/devices/claim", json={"token": token})
    assert retry.status_code == 200, retry.text
    assert (await world.port.inner.get_credentials(platform.id)).access_token == retry.json()["access_token"]


async def test_claim_code_lost_answer_is_unassigned_then_claimable_again(world: World) -> None:
    owner = await world.user()
    tb = world.port.inner
    name = f"factory-{uuid.uuid4().hex[:10]}"
    record = await tb.create_device(name, owner_id=None)
    token = (await tb.get_credentials(record.id)).access_token

    async def device_requests_claim(secret: str) -> None:
        async with httpx.AsyncClient(base_url=tb_url(world)) as http:
            sent = await http.post(f"/api/v1/{token}/claim", json={"secretKey": secret, "durationMs": 60_000})
            assert sent.status_code == 200, sent.text

    code = (await world.http.post("/claims/codes", headers=owner)).json()["claimCode"]
    await device_requests_claim(code)
    world.port.method = "claim_device"
    assert_unavailable(
        await world.http.post("/claims", json={"deviceName": name, "claimCode": code}, headers=owner)
    )
    # ThingsBoard assigned it and petit has no row: the sweeper gives it back to the tenant.
    await eventually(world.swept_clean, what="intent swept")
    assert (await tb.get_device(record.id)).owner_id is None
    assert (await world.http.get("/devices", headers=owner)).json()["total"] == 0

    # The code was never spent (the request rolled back): the device asks again and the claim goes through.
    await device_requests_claim(code)
    claimed = await world.http.post("/claims", json={"deviceName": name, "claimCode": code}, headers=owner)
    assert claimed.status_code == 201, claimed.text
    assert (await tb.get_device(record.id)).owner_id is not None


def tb_url(world: World) -> str:
    return world.port.inner_url


@pytest.mark.parametrize("step", ["assign_device", "rotate_credentials"])
async def test_transfer_converges_on_retry(world: World, step: str) -> None:
    owner, heir = await world.user(), await world.user()
    device = (await world.http.post("/devices", json={"name": "lamp"}, headers=owner)).json()
    me = (await world.http.get("/users/me", headers=heir)).json()
    offer = await world.http.post(
        f"/devices/{device['id']}/transfer", json={"email": me["email"]}, headers=owner
    )
    assert offer.status_code == 202, offer.text
    platform = await world.port.inner.find_device(f"petit-{device['id']}")
    assert platform is not None
    before = platform.owner_id

    world.port.method = step
    accept = f"/transfers/{offer.json()['id']}/accept"
    assert_unavailable(await world.http.post(accept, json={}, headers=heir))
    # Nothing moved in petit; ThingsBoard is back with the old owner's customer (at once or by the sweeper).
    assert (await world.http.get(f"/devices/{device['id']}", headers=owner)).status_code == 200
    await eventually(world.swept_clean, what="intent swept")
    assert (await world.port.inner.get_device(platform.id)).owner_id == before

    retry = await world.http.post(accept, json={}, headers=heir)
    assert retry.status_code == 200, retry.text
    assert (await world.http.get(f"/devices/{device['id']}", headers=owner)).status_code == 404
    assert (await world.http.get(f"/devices/{device['id']}", headers=heir)).json()["role"] == "owner"
    moved = await world.port.inner.get_device(platform.id)
    assert moved.owner_id not in {None, before}
    credentials = await world.port.inner.get_credentials(platform.id)
    assert credentials.access_token == retry.json()["credentials"]["accessToken"]
