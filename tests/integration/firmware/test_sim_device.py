"""Simulated devices (the firmware state machine + paho) against the ThingsBoard emulator over MQTT."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from firmware.sim.fleet import Fleet
from tests.integration.firmware.conftest import FAST, SSID, WIFI_PASSWORD, config, eventually, settled, status

if TYPE_CHECKING:
    from firmware.sim.fleet import SimDevice
    from firmware.sim.world import World
    from tests.integration.firmware.conftest import Rest
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration


def post_config(device: SimDevice, body: dict[str, object]) -> httpx.Response:
    return httpx.post(device.local_url + "/config/data", json=body, timeout=5)


def test_pairing_publishes_the_pair_key_then_status_4(device: SimDevice, rest: Rest) -> None:
    device_id, _, token = rest.create_device()
    body = config(token)
    accepted = post_config(device, body)
    assert accepted.status_code == 202
    assert settled(device) == {"statusCode": 4, "title": "", "description": "config finished"}
    attributes = eventually(lambda: rest.attributes(device_id, "CLIENT_SCOPE"))
    assert attributes["pairKey"] == body["pairKey"]
    assert attributes["mac"] == device.identity["mac"]
    assert attributes["firmwareVersion"] == "1.0.0"
    info = httpx.get(device.local_url + "/info", timeout=5).json()
    assert info["paired"] is True
    # The spent pair key is not kept on the device.
    assert device.store.data is not None
    assert "pairKey" not in device.store.data
    assert device.store.data["ownerKey"] == body["ownerKey"]


def test_telemetry_arrives_on_schedule(device: SimDevice, rest: Rest) -> None:
    device_id, _, token = rest.create_device()
    post_config(device, config(token))
    settled(device)
    first = eventually(lambda: rest.latest(device_id, "uptime,temperature").get("temperature"))
    eventually(lambda: device.device.stats["telemetry"] >= 3)
    later = rest.latest(device_id, "temperature")["temperature"]
    assert later[0]["ts"] > first[0]["ts"]


def test_rpc_toggle_stream_and_get_state(device: SimDevice, rest: Rest) -> None:
    device_id, _, token = rest.create_device()
    post_config(device, config(token))
    settled(device)
    eventually(lambda: device.device.stats["connects"] >= 1)
    toggled = rest.rpc(device_id, "toggleStream", {"enabled": True})
    assert toggled.status_code == 200, toggled.text
    assert toggled.json() == {"streaming": True}
    state = rest.rpc(device_id, "getState", {}).json()
    assert state["streaming"] is True
    unknown = rest.rpc(device_id, "selfDestruct", {}).json()
    assert "error" in unknown


def test_shared_attribute_update_changes_the_device(device: SimDevice, rest: Rest) -> None:
    device_id, _, token = rest.create_device()
    post_config(device, config(token))
    settled(device)
    eventually(lambda: device.device.stats["connects"] >= 1)
    rest.set_shared(device_id, {"led": True, "telemetryInterval": 7})
    eventually(lambda: device.device.led and device.device.interval == 7.0)


def test_shared_attributes_set_while_offline_are_fetched_on_connect(fleet: Fleet, rest: Rest) -> None:
    device_id, _, token = rest.create_device()
    rest.set_shared(device_id, {"telemetryInterval": 42})
    device = fleet.spawn(1)[0]
    post_config(device, config(token))
    settled(device)
    eventually(lambda: device.device.interval == 42.0)


def test_claim_request_lets_a_customer_claim(device: SimDevice, rest: Rest, emulator: Emulator) -> None:
    _, name, token = rest.create_device()
    post_config(device, config(token, claimSecret="claim-s3cret", claimDurationMs=60000))
    assert settled(device)["statusCode"] == 4
    customer = rest.http.post("/api/customer", json={"title": f"c-{uuid.uuid4().hex[:8]}"}).json()
    user = rest.http.post(
        "/api/user",
        params={"sendActivationMail": "false"},
        json={
            "email": f"u-{uuid.uuid4().hex[:8]}@example.com",
            "authority": "CUSTOMER_USER",
            "customerId": customer["id"],
        },
    ).json()
    user_token = rest.http.get(f"/api/user/{user['id']['id']}/token").json()["token"]
    claimed = httpx.post(
        f"{emulator.http_url}/api/customer/device/{name}/claim",
        json={"secretKey": "claim-s3cret"},
        headers={"X-Authorization": f"Bearer {user_token}"},
        timeout=10,
    )
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["response"] == "SUCCESS"


def test_provisioning_gets_a_token_then_pairs(device: SimDevice, rest: Rest) -> None:
    key, secret = uuid.uuid4().hex[:20], uuid.uuid4().hex[:20]
    mode = "ALLOW_CREATE_NEW_DEVICES"
    profile = {
        "name": f"prov-{key}",
        "type": "DEFAULT",
        "transportType": "DEFAULT",
        "provisionType": mode,
        "provisionDeviceKey": key,
        "profileData": {
            "configuration": {"type": "DEFAULT"},
            "transportConfiguration": {"type": "DEFAULT"},
            "provisionConfiguration": {"type": mode, "provisionDeviceSecret": secret},
        },
    }
    rest.http.post("/api/deviceProfile", json=profile).raise_for_status()
    name = f"prov-dev-{uuid.uuid4().hex[:8]}"
    body = config("", provisionDeviceKey=key, provisionDeviceSecret=secret, deviceName=name)
    del body["accessToken"]
    assert post_config(device, body).status_code == 202
    assert settled(device)["statusCode"] == 4
    found = rest.http.get("/api/tenant/devices", params={"deviceName": name})
    assert found.status_code == 200
    device_id = found.json()["id"]["id"]
    eventually(lambda: rest.attributes(device_id, "CLIENT_SCOPE").get("pairKey") == body["pairKey"])
    assert device.store.data is not None
    assert "provisionDeviceSecret" not in device.store.data


def test_wrong_wifi_password_is_status_5_and_setup_continues(device: SimDevice, rest: Rest) -> None:
    _, _, token = rest.create_device()
    post_config(device, config(token, password="not-the-password"))
    assert settled(device) == {
        "statusCode": 5,
        "title": "WIFI_CONNECT_BAD_CREDENTIALS",
        "description": f"could not join '{SSID}'",
    }
    assert device.wifi.ap_active
    # Still in setup: the app may correct the password.
    assert post_config(device, config(token)).status_code == 202
    assert settled(device)["statusCode"] == 4


def test_access_point_gone_is_status_5(device: SimDevice, rest: Rest, world: World) -> None:
    _, _, token = rest.create_device()
    world.set_up(SSID, up=False)
    post_config(device, config(token))
    assert settled(device)["title"] == "WIFI_NO_AP_FOUND"


def test_bad_token_is_status_6_bad_credentials(device: SimDevice, rest: Rest) -> None:
    post_config(device, config("no-such-token-" + uuid.uuid4().hex[:8]))
    final = settled(device)
    assert (final["statusCode"], final["title"]) == (6, "MQTT_CONNECT_BAD_CREDENTIALS")
    assert not device.device.paired()


def test_bad_token_fault_of_the_world(device: SimDevice, rest: Rest, world: World) -> None:
    _, _, token = rest.create_device()
    world.bad_token = True
    post_config(device, config(token))
    assert settled(device)["title"] == "MQTT_CONNECT_BAD_CREDENTIALS"


def test_broker_unreachable_is_connect_failed(device: SimDevice, rest: Rest, world: World) -> None:
    _, _, token = rest.create_device()
    world.broker_unreachable = True
    post_config(device, config(token))
    final = settled(device)
    assert (final["statusCode"], final["title"]) == (6, "MQTT_CONNECT_FAILED")


def test_slow_server_within_the_timeouts_still_pairs(device: SimDevice, rest: Rest, world: World) -> None:
    _, _, token = rest.create_device()
    world.server_delay_s = 0.5
    post_config(device, config(token))
    assert eventually(lambda: status(device)["statusCode"] == 3)  # the app sees "connecting to server"
    assert settled(device)["statusCode"] == 4


def test_server_slower_than_the_ack_timeout(fleet: Fleet, rest: Rest, world: World) -> None:
    _, _, token = rest.create_device()
    device = fleet.spawn(1)[0]
    device.mqtt.connect_timeout_s = 5.0
    world.server_delay_s = 1.5  # above ack_timeout_s=1.0, below the connect timeout
    post_config(device, config(token))
    final = settled(device)
    assert (final["statusCode"], final["title"]) == (6, "SERVER_REQUEST_TIMEOUT")


def test_reconnects_with_backoff_after_the_broker_drops(
    device: SimDevice, rest: Rest, emulator: Emulator
) -> None:
    _, _, token = rest.create_device()
    post_config(device, config(token))
    settled(device)
    eventually(lambda: device.device.stats["connects"] == 1)
    emulator.drop_mqtt_sessions()
    # The error is cleared only after the new session is set up, a moment after the connect counts.
    eventually(lambda: device.device.stats["connects"] >= 2 and device.device.last_error == "")
    assert device.device.stats["reconnects"] >= 1


def test_backoff_grows_while_the_broker_is_away(
    device: SimDevice, rest: Rest, world: World, emulator: Emulator
) -> None:
    _, _, token = rest.create_device()
    post_config(device, config(token))
    settled(device)
    world.broker_unreachable = True
    emulator.drop_mqtt_sessions()
    eventually(lambda: device.device.stats["reconnects"] >= 4)
    assert device.device.last_error == "MQTT_CONNECT_FAILED"
    assert device.device._backoff == 0.5  # capped at backoff_max_s
    world.broker_unreachable = False
    eventually(lambda: device.device.last_error == "" and device.device.stats["connects"] >= 2)


def test_credentials_survive_a_reboot(device: SimDevice, rest: Rest) -> None:
    device_id, _, token = rest.create_device()
    post_config(device, config(token))
    settled(device)
    device.reboot()
    assert status(device)["statusCode"] == 4
    eventually(lambda: device.device.stats["connects"] >= 1)
    eventually(lambda: device.device.stats["telemetry"] >= 1)
    assert rest.latest(device_id, "uptime")["uptime"]


def test_factory_reset_needs_the_owner_key(device: SimDevice, rest: Rest) -> None:
    _, _, token = rest.create_device()
    body = config(token)
    post_config(device, body)
    settled(device)
    url = device.local_url + "/reset"
    assert httpx.post(url, timeout=5).status_code == 401
    assert httpx.post(url, headers={"X-Owner-Key": "wrong-owner-key"}, timeout=5).status_code == 403
    assert httpx.post(url, headers={"X-Owner-Key": body["ownerKey"]}, timeout=5).status_code == 202
    eventually(lambda: status(device)["statusCode"] == 0)
    assert device.store.data is None
    assert device.wifi.ap_active


def test_factory_reset_by_rpc(device: SimDevice, rest: Rest) -> None:
    device_id, _, token = rest.create_device()
    post_config(device, config(token))
    settled(device)
    eventually(lambda: device.device.stats["connects"] >= 1)
    assert rest.rpc(device_id, "factoryReset", {}).json() == {"reset": True}
    eventually(lambda: not device.device.paired())


def test_many_devices_each_on_their_own_port(fleet: Fleet, rest: Rest) -> None:
    devices = fleet.spawn(5)
    assert len({d.port for d in devices}) == 5
    tokens = [rest.create_device() for _ in devices]
    for device, (_, _, token) in zip(devices, tokens, strict=True):
        post_config(device, config(token))
    for device in devices:
        assert settled(device)["statusCode"] == 4
    scan = httpx.get(devices[0].local_url + "/scan", timeout=5).json()
    assert {n["ssid"] for n in scan} == {SSID, "open-cafe"}
    assert json.dumps(scan)  # the body is plain JSON
    assert WIFI_PASSWORD not in json.dumps(scan)


def test_over_mqtt_311_thingsboard_folds_a_bad_token_into_unauthorized(
    emulator: Emulator, world: World
) -> None:
    # Why the firmware speaks MQTT 5: TB answers 3.1.1 clients code 5 (not authorized) for a bad token.
    with Fleet(world, mqtt_port=emulator.mqtt_port, settings=dict(FAST), mqtt5=False) as fleet:
        device = fleet.spawn(1)[0]
        post_config(device, config("no-such-token-" + uuid.uuid4().hex[:8]))
        final = settled(device)
    assert (final["statusCode"], final["title"]) == (6, "MQTT_CONNECT_UNAUTHORIZED")
