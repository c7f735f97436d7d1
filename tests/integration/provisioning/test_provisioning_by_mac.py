"""Self-provisioning by MAC end to end: through petit and through ThingsBoard's own /provision (MQTT, HTTP)
on the emulator; a scripted device with paho and tb-mqtt-client."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tb_device_mqtt import TBDeviceMqttClient

from petit.app import create_app
from petit.runtime import runtime_of
from petit.settings import ProvisioningSettings
from petit.thingsboard.models import AttributeScope
from tests.integration.gateway.conftest import Gateway, accepts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration


def new_mac() -> str:
    raw = secrets.token_hex(6).upper()
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


@pytest.fixture
def keys() -> dict[str, str]:
    return {"device_key": f"pk-{secrets.token_hex(8)}", "device_secret": f"ps-{secrets.token_hex(16)}"}


@pytest.fixture
async def prov(
    tb_settings: Settings, keys: dict[str, str], emulator: Emulator, database_url: str, serve: Any
) -> AsyncIterator[Gateway]:
    settings = tb_settings.model_copy(update={"provisioning": ProvisioningSettings.model_validate(keys)})
    app = create_app(settings)
    async with serve(app) as client:
        yield Gateway(client, app, emulator, database_url)


@pytest.fixture
async def gateway_plain(
    tb_settings: Settings, emulator: Emulator, database_url: str, serve: Any
) -> AsyncIterator[Gateway]:
    app = create_app(tb_settings)
    async with serve(app) as client:
        yield Gateway(client, app, emulator, database_url)


def body(keys: dict[str, str], mac: str, **extra: Any) -> dict[str, Any]:
    return {
        "macAddress": mac,
        "provisionDeviceKey": keys["device_key"],
        "provisionDeviceSecret": keys["device_secret"],
        **extra,
    }


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_a_device_registers_by_mac_and_connects(prov: Gateway, keys: dict[str, str]) -> None:
    mac = new_mac()
    response = await prov.client.post("/provisioning/devices", json=body(keys, mac))
    assert response.status_code == 200, response.text
    creds = response.json()
    assert creds["deviceName"] == mac.replace(":", "")
    assert creds["mqttPort"] == prov.emulator.mqtt_port
    assert creds["reprovisioned"] is False
    assert await accepts(prov.emulator.mqtt_port, creds["accessToken"])

    tb = runtime_of(prov.app).thingsboard
    record = await tb.find_device(creds["deviceName"])
    assert record is not None
    assert record.profile == "petit-provisioning"
    attributes = await tb.get_attributes(record.id, AttributeScope.SERVER)
    assert attributes["provisionState"] == "provisioned"
    assert attributes["lastProvisioning"]["via"] == "petit-mac"

    stored = await prov.sql("SELECT device_secret_digest FROM provisioned_devices")
    assert creds["deviceSecret"] not in {r[0] for r in stored}
    events = await prov.sql("SELECT action, outcome FROM device_events WHERE flow = 'provisioning'")
    assert ("provision", "succeeded") in {tuple(e) for e in events}


async def test_knowing_a_mac_never_earns_a_token(prov: Gateway, keys: dict[str, str]) -> None:
    mac = new_mac()
    first = (await prov.client.post("/provisioning/devices", json=body(keys, mac))).json()

    again = await prov.client.post("/provisioning/devices", json=body(keys, mac.lower()))
    assert_problem(again, 403, "reprovision_not_allowed")
    wrong = await prov.client.post("/provisioning/devices", json=body(keys, mac, deviceSecret="guess"))
    assert_problem(wrong, 403, "reprovision_not_allowed")
    # The real device is unaffected.
    assert await accepts(prov.emulator.mqtt_port, first["accessToken"])


async def test_the_device_secret_re_provisions_once_and_rotates_the_token(
    prov: Gateway, keys: dict[str, str]
) -> None:
    mac = new_mac()
    first = (await prov.client.post("/provisioning/devices", json=body(keys, mac))).json()
    again = await prov.client.post(
        "/provisioning/devices", json=body(keys, mac, deviceSecret=first["deviceSecret"])
    )
    assert again.status_code == 200, again.text
    second = again.json()
    assert second["reprovisioned"] is True
    assert not await accepts(prov.emulator.mqtt_port, first["accessToken"])
    assert await accepts(prov.emulator.mqtt_port, second["accessToken"])
    replay = await prov.client.post(
        "/provisioning/devices", json=body(keys, mac, deviceSecret=first["deviceSecret"])
    )
    assert_problem(replay, 403, "reprovision_not_allowed")


async def _owned_by_new_user(prov: Gateway, device_name: str) -> tuple[uuid.UUID, dict[str, str]]:
    """Make the provisioned device someone's, as pairing or a claim would."""
    owner = await prov.owner()
    record = await runtime_of(prov.app).thingsboard.find_device(device_name)
    device_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    await prov.sql(
        "INSERT INTO devices (id, owner_id, platform_device_id, name, extra, created_at, updated_at) "
        "VALUES (:id, :owner, :platform, :name, '{}', :now, :now)",
        id=device_id,
        owner=owner.id,
        platform=record.id,
        name=device_name,
        now=now - dt.timedelta(seconds=1),
    )
    return device_id, owner.headers


async def test_after_a_factory_reset_the_owner_allows_one_re_provision(
    prov: Gateway, keys: dict[str, str]
) -> None:
    mac = new_mac()
    first = (await prov.client.post("/provisioning/devices", json=body(keys, mac))).json()
    device_id, headers = await _owned_by_new_user(prov, first["deviceName"])
    stranger = await prov.owner()
    refused = await prov.client.post(
        f"/provisioning/devices/{device_id}/reprovision", headers=stranger.headers
    )
    assert_problem(refused, 404, "device_not_found")

    allowed = await prov.client.post(f"/provisioning/devices/{device_id}/reprovision", headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["macAddress"] == first["deviceName"]

    # The reset device lost its secret; the owner's approval stands in for it, once.
    again = await prov.client.post("/provisioning/devices", json=body(keys, mac))
    assert again.status_code == 200, again.text
    assert await accepts(prov.emulator.mqtt_port, again.json()["accessToken"])
    assert not await accepts(prov.emulator.mqtt_port, first["accessToken"])
    assert_problem(
        await prov.client.post("/provisioning/devices", json=body(keys, mac)), 403, "reprovision_not_allowed"
    )

    events = await prov.client.get(f"/devices/{device_id}/events", headers=headers)
    assert events.status_code == 200, events.text
    actions = {(e["action"], e["outcome"]) for e in events.json()["items"]}
    assert ("allow_reprovision", "succeeded") in actions
    assert ("reprovision", "succeeded") in actions


async def test_thingsboards_own_provision_api_uses_the_same_profile(
    prov: Gateway, keys: dict[str, str]
) -> None:
    mac = new_mac().replace(":", "")
    # Over MQTT, as firmware using tb-mqtt-client would.
    answer = await asyncio.to_thread(
        TBDeviceMqttClient.provision,
        "127.0.0.1",
        keys["device_key"],
        keys["device_secret"],
        port=prov.emulator.mqtt_port,
        device_name=mac,
    )
    assert answer is not None
    token = answer if isinstance(answer, str) else answer.get("credentialsValue")
    assert await accepts(prov.emulator.mqtt_port, token)
    record = await runtime_of(prov.app).thingsboard.find_device(mac)
    assert record is not None
    assert record.profile == "petit-provisioning"

    # Over HTTP too; a wrong secret is refused by ThingsBoard as well.
    other = new_mac().replace(":", "")
    async with httpx.AsyncClient(base_url=prov.emulator.http_url) as tb_http:
        ok = await tb_http.post(
            "/api/v1/provision",
            json={
                "deviceName": other,
                "provisionDeviceKey": keys["device_key"],
                "provisionDeviceSecret": keys["device_secret"],
            },
        )
        assert ok.json()["status"] == "SUCCESS"
        bad = await tb_http.post(
            "/api/v1/provision",
            json={
                "deviceName": new_mac(),
                "provisionDeviceKey": keys["device_key"],
                "provisionDeviceSecret": "wrong",
            },
        )
        assert bad.json()["status"] == "NOT_FOUND"

    # petit has no device secret for a MAC registered elsewhere, so it will not hand out a token for it.
    assert_problem(
        await prov.client.post("/provisioning/devices", json=body(keys, mac)), 403, "reprovision_not_allowed"
    )


async def test_wrong_provision_credentials_lock_out(prov: Gateway, keys: dict[str, str]) -> None:
    mac = new_mac()
    statuses = []
    for _ in range(10):
        response = await prov.client.post(
            "/provisioning/devices",
            json={**body(keys, mac), "provisionDeviceSecret": f"guess-{uuid.uuid4().hex}"},
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) > 0
            break
    assert statuses[0] == 401
    assert statuses[-1] == 429
    # The locked MAC waits even with the right secret.
    assert (await prov.client.post("/provisioning/devices", json=body(keys, mac))).status_code == 429


async def test_thingsboard_down_leaves_nothing_half_made(prov: Gateway, keys: dict[str, str]) -> None:
    mac = new_mac()
    prov.emulator.faults.rest_errors(status=503)
    failed = await prov.client.post("/provisioning/devices", json=body(keys, mac))
    assert failed.status_code == 503, failed.text
    prov.emulator.faults.clear()
    assert await prov.sql("SELECT mac FROM provisioned_devices") == []
    ok = await prov.client.post("/provisioning/devices", json=body(keys, mac))
    assert ok.status_code == 200, ok.text


async def test_concurrent_first_registrations_of_one_mac_give_one_token(
    prov: Gateway, keys: dict[str, str]
) -> None:
    mac = new_mac()
    results = await asyncio.gather(
        *(prov.client.post("/provisioning/devices", json=body(keys, mac)) for _ in range(2))
    )
    assert sorted(r.status_code for r in results) == [200, 403]
    rows = await prov.sql("SELECT count(*) FROM provisioned_devices")
    assert rows[0][0] == 1


async def test_provisioning_is_off_without_keys(gateway_plain: Gateway) -> None:
    response = await gateway_plain.client.post(
        "/provisioning/devices",
        json={"macAddress": new_mac(), "provisionDeviceKey": "k", "provisionDeviceSecret": "s"},
    )
    assert_problem(response, 404, "provisioning_disabled")
    # The seed's debug route does not exist unless a setting turns it on.
    assert (await gateway_plain.client.get("/debug/provisioning")).status_code == 404


async def test_the_debug_route_registers_new_macs_only(
    tb_settings: Settings,
    keys: dict[str, str],
    emulator: Emulator,
    serve: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    group = ProvisioningSettings.model_validate({**keys, "debug_endpoint": True})
    with caplog.at_level("WARNING"):
        app = create_app(tb_settings.model_copy(update={"provisioning": group}))
    assert any("/debug/provisioning is ENABLED" in r.getMessage() for r in caplog.records)
    async with serve(app) as client:
        mac = new_mac()
        response = await client.request("GET", "/debug/provisioning", json={"mac-address": mac})
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"access-token"}
        assert await accepts(emulator.mqtt_port, response.json()["access-token"])
        again = await client.request("GET", "/debug/provisioning", json={"mac-address": mac})
        assert_problem(again, 403, "reprovision_not_allowed")
        assert_problem(
            await client.get("/debug/provisioning", params={"mac-address": "ZZ:ZZ:ZZ:ZZ:ZZ:ZZ"}),
            422,
            "invalid_mac_address",
        )
