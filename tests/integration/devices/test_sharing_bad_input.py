"""Sharing and transfer refusals: clear problem+json, never 500, nothing half-done."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from petit.app import create_app
from tests.fakes.thingsboard import FakeThingsBoard

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import httpx
    from litestar import Litestar

    from petit.settings import Settings

    Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]

pytestmark = pytest.mark.integration


@pytest.fixture
def fake() -> FakeThingsBoard:
    return FakeThingsBoard(mqtt_host="mqtt.petit.test", mqtt_port=18830)


@pytest.fixture
async def http(settings: Settings, fake: FakeThingsBoard, serve: Serve) -> Any:
    small = settings.model_copy(
        update={"sharing": settings.sharing.model_copy(update={"max_users_per_device": 3})}
    )
    async with serve(create_app(small, thingsboard=fake)) as client:
        yield client


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_share_refusals(http: httpx.AsyncClient, signup: Any) -> None:
    owner, a, b, c = [await signup(http) for _ in range(4)]
    device = (await http.post("/devices", json={"name": "lamp"}, headers=owner.headers)).json()["id"]
    shares = f"/devices/{device}/shares"
    problem(
        await http.post(shares, json={"email": owner.email, "role": "member"}, headers=owner.headers),
        422,
        "share_with_self",
    )
    problem(
        await http.post(shares, json={"email": a.email, "role": "admin"}, headers=owner.headers),
        422,
        "validation_failed",
    )
    first = await http.post(shares, json={"email": a.email, "role": "member"}, headers=owner.headers)
    assert first.status_code == 201
    problem(
        await http.post(shares, json={"email": a.email.upper(), "role": "viewer"}, headers=owner.headers),
        409,
        "share_exists",
    )
    assert (
        await http.post(shares, json={"email": b.email, "role": "viewer"}, headers=owner.headers)
    ).status_code == 201
    # Owner + 2 = the limit of 3 in this test.
    problem(
        await http.post(shares, json={"email": c.email, "role": "viewer"}, headers=owner.headers),
        409,
        "share_limit_reached",
    )

    share_id = first.json()["id"]
    problem(await http.post(f"/shares/{share_id}/accept", headers=b.headers), 404, "share_not_found")
    assert (await http.post(f"/shares/{share_id}/accept", headers=a.headers)).status_code == 200
    problem(await http.post(f"/shares/{share_id}/accept", headers=a.headers), 409, "share_already_accepted")
    # A member cannot share further or revoke others.
    problem(
        await http.post(shares, json={"email": c.email, "role": "viewer"}, headers=a.headers),
        403,
        "device_role_forbidden",
    )
    # The owner revokes; accepting afterwards finds nothing.
    assert (await http.delete(f"{shares}/{share_id}", headers=owner.headers)).status_code == 204
    problem(await http.post(f"/shares/{share_id}/accept", headers=a.headers), 404, "share_not_found")
    problem(await http.get(f"/devices/{device}", headers=a.headers), 404, "device_not_found")


async def test_invitation_waits_for_signup_and_expires(
    http: httpx.AsyncClient, signup: Any, settings: Settings
) -> None:
    owner = await signup(http)
    device = (await http.post("/devices", json={"name": "lamp"}, headers=owner.headers)).json()["id"]
    email = "later-" + owner.email
    invited = await http.post(
        f"/devices/{device}/shares", json={"email": email, "role": "viewer"}, headers=owner.headers
    )
    assert invited.status_code == 201, invited.text
    password = "a-long-enough-password"
    assert (await http.post("/auth/signup", json={"email": email, "password": password})).status_code == 201
    token = (await http.post("/auth/login", json={"email": email, "password": password})).json()[
        "accessToken"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    incoming = (await http.get("/shares/incoming", headers=headers)).json()["items"]
    assert [(i["id"], i["kind"], i["role"], i["ownerEmail"]) for i in incoming] == [
        (invited.json()["id"], "share", "viewer", owner.email)
    ]
    assert (await http.post(f"/shares/{invited.json()['id']}/decline", headers=headers)).status_code == 204
    assert (await http.get("/shares/incoming", headers=headers)).json()["items"] == []


async def test_concurrent_accept_and_revoke_leave_one_winner(http: httpx.AsyncClient, signup: Any) -> None:
    owner, guest = await signup(http), await signup(http)
    device = (await http.post("/devices", json={"name": "lamp"}, headers=owner.headers)).json()["id"]
    for _ in range(3):
        share_id = (
            await http.post(
                f"/devices/{device}/shares",
                json={"email": guest.email, "role": "member"},
                headers=owner.headers,
            )
        ).json()["id"]
        accept, revoke = await asyncio.gather(
            http.post(f"/shares/{share_id}/accept", headers=guest.headers),
            http.delete(f"/devices/{device}/shares/{share_id}", headers=owner.headers),
        )
        assert accept.status_code in {200, 404}, accept.text
        assert revoke.status_code in {204, 404}, revoke.text
        # Whatever the order, the revocation stands in the end or never found the share.
        listed = (await http.get(f"/devices/{device}/shares", headers=owner.headers)).json()["items"]
        access = (await http.get(f"/devices/{device}", headers=guest.headers)).status_code
        assert (listed == []) == (access == 404)
        if listed:
            assert (
                await http.delete(f"/devices/{device}/shares/{share_id}", headers=owner.headers)
            ).status_code == 204


async def test_transfer_refusals_do_not_reveal_accounts(http: httpx.AsyncClient, signup: Any) -> None:
    owner, heir, other = [await signup(http) for _ in range(3)]
    device = (await http.post("/devices", json={"name": "lamp"}, headers=owner.headers)).json()["id"]
    to = f"/devices/{device}/transfer"
    problem(await http.post(to, json={"email": owner.email}, headers=owner.headers), 422, "transfer_to_self")
    ghost = await http.post(to, json={"email": "no-such-account@example.com"}, headers=owner.headers)
    real = await http.post(to, json={"email": heir.email}, headers=owner.headers)
    assert ghost.status_code == real.status_code == 202
    assert set(ghost.json()) == set(real.json()) == {"id", "deviceId", "expiresAt"}
    transfer = real.json()["id"]
    problem(
        await http.post(f"/transfers/{transfer}/accept", json={}, headers=other.headers),
        404,
        "transfer_not_found",
    )
    # The newer offer replaced the ghost's.
    problem(
        await http.post(f"/transfers/{ghost.json()['id']}/accept", json={}, headers=heir.headers),
        404,
        "transfer_not_found",
    )
    assert (await http.delete(to, headers=owner.headers)).status_code == 204
    problem(
        await http.post(f"/transfers/{transfer}/accept", json={}, headers=heir.headers),
        404,
        "transfer_not_found",
    )
    assert (await http.get(f"/devices/{device}", headers=owner.headers)).status_code == 200


class _Later:
    """The system clock plus an offset a test moves forward."""

    def __init__(self) -> None:
        from datetime import timedelta  # noqa: PLC0415

        self.offset = timedelta()

    def now(self) -> Any:
        from datetime import UTC, datetime  # noqa: PLC0415

        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        import time  # noqa: PLC0415

        return time.monotonic() + self.offset.total_seconds()


async def test_invitations_and_transfers_expire(
    settings: Settings, fake: FakeThingsBoard, serve: Serve, signup: Any
) -> None:
    from datetime import timedelta  # noqa: PLC0415

    clock = _Later()
    # Short lives, so the users' access tokens (15 min) outlast them.
    quick = settings.model_copy(
        update={"sharing": settings.sharing.model_copy(update={"invitation_ttl_s": 60, "transfer_ttl_s": 60})}
    )
    async with serve(create_app(quick, thingsboard=fake, clock=clock)) as http:
        owner, guest, buyer = [await signup(http) for _ in range(3)]
        device = (await http.post("/devices", json={"name": "lamp"}, headers=owner.headers)).json()["id"]
        invited = await http.post(
            f"/devices/{device}/shares", json={"email": guest.email, "role": "viewer"}, headers=owner.headers
        )
        offered = await http.post(
            f"/devices/{device}/transfer", json={"email": buyer.email}, headers=owner.headers
        )
        assert (invited.status_code, offered.status_code) == (201, 202)
        clock.offset = timedelta(seconds=61)
        problem(
            await http.post(f"/shares/{invited.json()['id']}/accept", headers=guest.headers),
            410,
            "share_expired",
        )
        problem(
            await http.post(f"/transfers/{offered.json()['id']}/accept", json={}, headers=buyer.headers),
            410,
            "transfer_expired",
        )
        # Nothing moved: the device is still the owner's alone.
        assert (await http.get(f"/devices/{device}", headers=owner.headers)).status_code == 200
        assert (await http.get(f"/devices/{device}", headers=buyer.headers)).status_code == 404
        assert (await http.get(f"/devices/{device}", headers=guest.headers)).status_code == 404
