"""Roles on a shared device, over HTTP on an in-memory ThingsBoard, on every database backend.

The ownership matrix: every device route x {owner, member, viewer, stranger, former owner, revoked member},
asserting exactly the allowed set (allowed = neither ``device_not_found`` nor ``device_role_forbidden``).
"""

from __future__ import annotations

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
    from tests.integration.devices.conftest import Account

    Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]

pytestmark = pytest.mark.integration

DENIED = {"device_not_found", "device_role_forbidden"}


@pytest.fixture
def fake() -> FakeThingsBoard:
    return FakeThingsBoard(mqtt_host="mqtt.petit.test", mqtt_port=18830)


@pytest.fixture
async def http(settings: Settings, fake: FakeThingsBoard, serve: Serve) -> Any:
    async with serve(create_app(settings, thingsboard=fake)) as client:
        yield client


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def share(http: httpx.AsyncClient, owner: Account, device_id: str, to: Account, role: str) -> str:
    response = await http.post(
        f"/devices/{device_id}/shares", json={"email": to.email, "role": role}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    share_id: str = response.json()["id"]
    accepted = await http.post(f"/shares/{share_id}/accept", headers=to.headers)
    assert accepted.status_code == 200, accepted.text
    return share_id


#: (operationId, method, path under /devices/{id}, body, roles allowed)
ROUTES: list[tuple[str, str, str, Any, set[str]]] = [
    ("GetDevice", "GET", "", None, {"owner", "member", "viewer"}),
    ("UpdateDevice", "PATCH", "", {"label": "by someone"}, {"owner"}),
    ("GetDeviceCredentials", "GET", "/credentials", None, {"owner"}),
    ("RotateDeviceCredentials", "POST", "/credentials/rotate", None, {"owner"}),
    ("GetLatestTelemetry", "GET", "/telemetry/latest", None, {"owner", "member", "viewer"}),
    ("GetTelemetryHistory", "GET", "/telemetry/history?keys=t", None, {"owner", "member", "viewer"}),
    ("GetGatewayLatestTelemetry", "GET", "GW/telemetry/latest", None, {"owner", "member", "viewer"}),
    ("SendDeviceCommand", "POST", "/commands", {"function": "ping", "mode": "oneway"}, {"owner", "member"}),
    ("GetDeviceSettings", "GET", "/settings", None, {"owner", "member"}),
    ("UpdateDeviceSettings", "PATCH", "/settings", {"values": {"on": True}}, {"owner", "member"}),
    ("ReplaceDeviceSettings", "PUT", "/settings", {"values": {"on": True}}, {"owner", "member"}),
    ("ListDeviceEvents", "GET", "/events", None, {"owner", "member", "viewer"}),
    ("ListDeviceShares", "GET", "/shares", None, {"owner"}),
    ("ShareDevice", "POST", "/shares", {"email": "nobody-yet@example.com", "role": "viewer"}, {"owner"}),
    ("OfferTransfer", "POST", "/transfer", {"email": "nobody-yet@example.com"}, {"owner"}),
    ("CancelTransfer", "DELETE", "/transfer", None, {"owner"}),
    ("IssueProvisioningToken", "POST", "GW/provision", {}, {"owner"}),
    ("ListProvisioningClaims", "GET", "GW/claims", None, {"owner"}),
    ("AllowReprovision", "POST", "PROV/reprovision", None, {"owner"}),
    # Last: they end the device.
    ("ReleaseDevice", "POST", "/release", None, {"owner"}),
    ("DeleteDevice", "DELETE", "", None, {"owner"}),
]


def url(device_id: str, path: str) -> str:
    if path.startswith("GW/"):
        return f"/gateway/devices/{device_id}/{path[3:]}"
    if path.startswith("PROV/"):
        return f"/provisioning/devices/{device_id}/{path[5:]}"
    return f"/devices/{device_id}{path}"


async def test_every_device_route_allows_exactly_its_roles(http: httpx.AsyncClient, signup: Any) -> None:
    former, owner, member, viewer, stranger, revoked = [await signup(http) for _ in range(6)]
    created = await http.post("/devices", json={"name": "kitchen lamp"}, headers=former.headers)
    assert created.status_code == 201, created.text
    device_id = created.json()["id"]
    await share(http, former, device_id, member, "member")
    await share(http, former, device_id, viewer, "viewer")
    gone = await share(http, former, device_id, revoked, "member")
    assert (
        await http.delete(f"/devices/{device_id}/shares/{gone}", headers=former.headers)
    ).status_code == 204
    # The former owner hands it over; the new owner keeps the household's shares.
    offer = await http.post(
        f"/devices/{device_id}/transfer", json={"email": owner.email}, headers=former.headers
    )
    assert offer.status_code == 202, offer.text
    accepted = await http.post(
        f"/transfers/{offer.json()['id']}/accept", json={"keepShares": True}, headers=owner.headers
    )
    assert accepted.status_code == 200, accepted.text

    actors = {
        "owner": owner,
        "member": member,
        "viewer": viewer,
        "stranger": stranger,
        "former owner": former,
        "revoked member": revoked,
    }
    seen: dict[str, set[str]] = {}
    # Non-owners first, so the owner's destructive calls come last.
    for operation, method, path, body, _ in ROUTES:
        for name in [*(n for n in actors if n != "owner"), "owner"]:
            response = await http.request(
                method, url(device_id, path), json=body, headers=actors[name].headers
            )
            assert response.status_code != 500, (operation, name, response.text)
            code = response.json().get("code") if response.status_code >= 400 and response.content else None
            if code in DENIED:
                problem(response, 403 if code == "device_role_forbidden" else 404, str(code))
                if name in {"stranger", "former owner", "revoked member"}:
                    assert code == "device_not_found", (operation, name)
            else:
                seen.setdefault(operation, set()).add(name)
            if operation == "ReleaseDevice" and name == "owner":
                break
        if operation == "ReleaseDevice":
            break
    for operation, _, _, _, allowed in ROUTES:
        if operation == "DeleteDevice":
            continue
        assert seen.get(operation, set()) == allowed, operation


async def test_list_devices_shows_shared_devices_with_role_and_owner(
    http: httpx.AsyncClient, signup: Any
) -> None:
    owner, member = await signup(http), await signup(http)
    device_id = (await http.post("/devices", json={"name": "lamp"}, headers=owner.headers)).json()["id"]
    await share(http, owner, device_id, member, "member")
    items = (await http.get("/devices", headers=member.headers)).json()["items"]
    assert [(d["id"], d["role"], d["ownedBy"]) for d in items] == [(device_id, "member", owner.email)]
    mine = (await http.get("/devices", headers=owner.headers)).json()["items"]
    assert [(d["role"], d["ownedBy"]) for d in mine] == [("owner", None)]
