"""The real emulator's MQTT side driven by the official clients, unchanged: tb-mqtt-client and paho-mqtt.

The server side is observed and driven over the emulator's REST API, as petit would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tb_device_mqtt import TBDeviceMqttClient

from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.integration


def eventually(condition: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


class Rest:
    """The tenant admin's view of the emulator over plain HTTP."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        login = self.http.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        login.raise_for_status()
        self.http.headers["X-Authorization"] = f"Bearer {login.json()['token']}"

    def create_device(self, name: str | None = None, token: str | None = None) -> tuple[str, str]:
        """``(device_id, access_token)``."""
        token = token or uuid.uuid4().hex[:20]
        response = self.http.post(
            "/api/device",
            params={"accessToken": token},
            json={"name": name or f"mqtt-{uuid.uuid4().hex[:10]}", "type": "default"},
        )
        response.raise_for_status()
        return response.json()["id"]["id"], token

    def latest(self, device_id: str, keys: str) -> dict[str, Any]:
        response = self.http.get(
            f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries", params={"keys": keys}
        )
        response.raise_for_status()
        return dict(response.json())

    def attributes(self, device_id: str, scope: str) -> dict[str, Any]:
        response = self.http.get(f"/api/plugins/telemetry/DEVICE/{device_id}/values/attributes/{scope}")
        response.raise_for_status()
        return {item["key"]: item["value"] for item in response.json()}

    def set_shared(self, device_id: str, values: dict[str, Any]) -> None:
        response = self.http.post(
            f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", json=values
        )
        response.raise_for_status()

    def rpc(
        self, kind: str, device_id: str, method: str, params: Any, timeout_ms: int = 5000
    ) -> httpx.Response:
        body = {"method": method, "params": params, "timeout": timeout_ms}
        return self.http.post(f"/api/rpc/{kind}/{device_id}", json=body)

    def customer_user_token(self) -> str:
        customer = self.http.post("/api/customer", json={"title": f"c-{uuid.uuid4().hex[:8]}"})
        customer.raise_for_status()
        user = self.http.post(
            "/api/user",
            params={"sendActivationMail": "false"},
            json={
                "email": f"u-{uuid.uuid4().hex[:8]}@example.com",
                "authority": "CUSTOMER_USER",
                "customerId": customer.json()["id"],
            },
        )
        user.raise_for_status()
        token = self.http.get(f"/api/user/{user.json()['id']['id']}/token")
        token.raise_for_status()
        return str(token.json()["token"])

    def provisioning_profile(self, mode: str = "ALLOW_CREATE_NEW_DEVICES") -> tuple[str, str]:
        key, secret = uuid.uuid4().hex[:20], uuid.uuid4().hex[:20]
        body = {
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
        self.http.post("/api/deviceProfile", json=body).raise_for_status()
        return key, secret


def latest_value(rest: Rest, device_id: str, key: str) -> Any:
    """The latest value of ``key``, or None when TB would report none (absent, or ``[{ts, null}]``)."""
    entries = rest.latest(device_id, key).get(key) or [{}]
    return entries[0].get("value")


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(inactivity_timeout_s=600, rpc_default_timeout_ms=5000).run_in_thread() as emu:
        emu.core.config.client_rpc_timeout_ms = 1500
        yield emu


@pytest.fixture(scope="module")
def rest(emulator: Emulator) -> Iterator[Rest]:
    client = Rest(emulator.http_url)
    yield client
    client.http.close()


@pytest.fixture
def tb_clients() -> Iterator[list[TBDeviceMqttClient]]:
    started: list[TBDeviceMqttClient] = []
    yield started
    for client in started:
        client.stop()
        client.disconnect()


def tb_connect(emulator: Emulator, token: str, started: list[TBDeviceMqttClient]) -> TBDeviceMqttClient:
    client = TBDeviceMqttClient("127.0.0.1", port=emulator.mqtt_port, username=token)
    started.append(client)
    client.connect()
    eventually(client.is_connected)
    return client


# -- tb-mqtt-client ------------------------------------------------------------------------------------------


def test_tb_client_connects_fetches_session_limits_and_sends_telemetry(
    emulator: Emulator, rest: Rest, tb_clients: list[TBDeviceMqttClient]
) -> None:
    device_id, token = rest.create_device()
    client = tb_connect(emulator, token, tb_clients)
    eventually(lambda: client.rate_limits_received)
    assert client.send_telemetry({"temperature": 21.5, "door": "open"}).get() == 0
    assert client.send_telemetry([{"ts": 1700000000000, "values": {"humidity": 40}}]).get() == 0
    latest = eventually(
        lambda: (r := rest.latest(device_id, "temperature,door,humidity"))["temperature"] and r
    )
    assert latest["temperature"][0]["value"] == "21.5"
    assert latest["door"][0]["value"] == "open"
    assert latest["humidity"] == [{"ts": 1700000000000, "value": "40"}]
    server = rest.attributes(device_id, "SERVER_SCOPE")
    assert server["active"] is True
    assert server["lastConnectTime"] > 0


def test_tb_client_attributes_request_and_shared_subscription(
    emulator: Emulator, rest: Rest, tb_clients: list[TBDeviceMqttClient]
) -> None:
    device_id, token = rest.create_device()
    rest.set_shared(device_id, {"targetTemp": 19, "mode": "eco"})
    client = tb_connect(emulator, token, tb_clients)
    assert client.send_attributes({"fw": "1.2.3", "serial": "A1"}).get() == 0
    answers: list[Any] = []
    client.request_attributes(
        ["fw"], ["targetTemp"], callback=lambda content, exc: answers.append((content, exc))
    )
    eventually(lambda: answers)
    assert answers == [({"client": {"fw": "1.2.3"}, "shared": {"targetTemp": 19}}, None)]
    updates: list[Any] = []
    client.subscribe_to_attribute("mode", lambda content, exc: updates.append(content))
    rest.set_shared(device_id, {"mode": "boost"})
    eventually(lambda: updates)
    assert updates[0] == {"mode": "boost"}
    assert rest.attributes(device_id, "CLIENT_SCOPE") == {"fw": "1.2.3", "serial": "A1"}


def test_tb_client_answers_server_side_rpc(
    emulator: Emulator, rest: Rest, tb_clients: list[TBDeviceMqttClient]
) -> None:
    device_id, token = rest.create_device()
    client = tb_connect(emulator, token, tb_clients)
    seen: list[tuple[str, Any]] = []

    def handler(request_id: str, body: dict[str, Any]) -> None:
        seen.append((request_id, body))
        client.send_rpc_reply(request_id, {"pin": body["params"]["pin"], "state": "on"})

    client.set_server_side_rpc_request_handler(handler)
    reply = rest.rpc("twoway", device_id, "setGpio", {"pin": 4})
    assert reply.status_code == 200
    assert reply.json() == {"pin": 4, "state": "on"}
    assert seen[0][1] == {"method": "setGpio", "params": {"pin": 4}}
    assert rest.rpc("oneway", device_id, "blink", {"pin": 5}).status_code == 200
    eventually(lambda: len(seen) == 2)
    assert int(seen[1][0]) > int(seen[0][0])


def test_tb_client_rpc_call_times_out_with_tbs_default_rule_chain(
    emulator: Emulator, rest: Rest, tb_clients: list[TBDeviceMqttClient]
) -> None:
    _, token = rest.create_device()
    client = tb_connect(emulator, token, tb_clients)
    answers: list[Any] = []
    client.send_rpc_call("getTime", {}, lambda request_id, content, exc: answers.append(content))
    assert eventually(lambda: answers, within=5) == [{"error": "timeout"}]


def test_tb_client_rpc_call_answered_by_a_plugged_handler(
    emulator: Emulator, rest: Rest, tb_clients: list[TBDeviceMqttClient]
) -> None:
    _, token = rest.create_device()
    gateway = emulator.core.device_api
    gateway.client_rpc_handler = lambda device, method, params: {"method": method, "device": device.name}
    try:
        client = tb_connect(emulator, token, tb_clients)
        answers: list[Any] = []
        client.send_rpc_call("whoami", {}, lambda request_id, content, exc: answers.append(content))
        answer = eventually(lambda: answers)[0]
    finally:
        gateway.client_rpc_handler = None
    assert answer["method"] == "whoami"


def test_tb_client_claim_then_customer_claims(
    emulator: Emulator, rest: Rest, tb_clients: list[TBDeviceMqttClient]
) -> None:
    name = f"claimable-{uuid.uuid4().hex[:8]}"
    _, token = rest.create_device(name)
    client = tb_connect(emulator, token, tb_clients)
    assert client.claim(secret_key="s3cret", duration=60000).get() == 0
    customer = httpx.Client(base_url=emulator.http_url, timeout=10)
    customer.headers["X-Authorization"] = f"Bearer {rest.customer_user_token()}"
    wrong = customer.post(f"/api/customer/device/{name}/claim", json={"secretKey": "nope"})
    assert (wrong.status_code, wrong.json()) == (400, "FAILURE")
    # A failed attempt evicts the claim (TB), so the device registers it again.
    assert client.claim(secret_key="s3cret", duration=60000).get() == 0
    ok = customer.post(f"/api/customer/device/{name}/claim", json={"secretKey": "s3cret"})
    customer.close()
    assert ok.status_code == 200
    assert ok.json()["response"] == "SUCCESS"


def test_tb_client_provision_then_connect_with_the_new_token(
    emulator: Emulator, rest: Rest, tb_clients: list[TBDeviceMqttClient]
) -> None:
    key, secret = rest.provisioning_profile()
    name = f"provisioned-{uuid.uuid4().hex[:8]}"
    credentials = TBDeviceMqttClient.provision(
        "127.0.0.1", key, secret, port=emulator.mqtt_port, device_name=name
    )
    assert credentials["status"] == "SUCCESS"
    assert credentials["credentialsType"] == "ACCESS_TOKEN"
    client = tb_connect(emulator, credentials["credentialsValue"], tb_clients)
    assert client.send_telemetry({"booted": True}).get() == 0
    assert (
        TBDeviceMqttClient.provision("127.0.0.1", key, "wrong", port=emulator.mqtt_port, device_name="x")
        is None
    )


def test_tb_client_with_a_wrong_token_is_refused(
    emulator: Emulator, tb_clients: list[TBDeviceMqttClient], caplog: pytest.LogCaptureFixture
) -> None:
    # The client stores its connect callback only after the CONNACK may already have arrived, so the
    # refusal is read from the client's own log line instead.
    client = TBDeviceMqttClient("127.0.0.1", port=emulator.mqtt_port, username="definitely-not-a-token")
    tb_clients.append(client)
    client.connect(min_reconnect_delay=30)
    eventually(lambda: any("result code 134" in r.getMessage() for r in caplog.records))
    assert not client.is_connected()


# -- paho-mqtt, MQTT 3.1.1 and 5 -----------------------------------------------------------------------------


class PahoDevice:
    def __init__(self, port: int, token: str, protocol: paho.MQTTProtocolVersion) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"p-{token}", protocol=protocol)
        self.client.username_pw_set(token)
        self.messages: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.disconnects: list[int] = []
        self.client.on_connect = lambda _c, _u, _f, rc, _p: rc == 0 and self.connected.set()
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.append(int(rc.value))
        self.client.reconnect_delay_set(60, 120)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(10)

    def _on_message(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def paho_devices() -> Iterator[list[PahoDevice]]:
    started: list[PahoDevice] = []
    yield started
    for device in started:
        device.stop()


PROTOCOLS = [pytest.param(paho.MQTTv311, id="v311"), pytest.param(paho.MQTTv5, id="v5")]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_paho_two_devices_never_see_each_others_traffic(
    emulator: Emulator, rest: Rest, paho_devices: list[PahoDevice], protocol: paho.MQTTProtocolVersion
) -> None:
    (id_a, token_a), (id_b, token_b) = rest.create_device(), rest.create_device()
    a = PahoDevice(emulator.mqtt_port, token_a, protocol)
    b = PahoDevice(emulator.mqtt_port, token_b, protocol)
    paho_devices.extend([a, b])
    for device in (a, b):
        subscribed = threading.Event()
        device.client.on_subscribe = lambda *_, done=subscribed: done.set()
        device.client.subscribe([("v1/devices/me/attributes", 1), ("v1/devices/me/rpc/request/+", 1)])
        assert subscribed.wait(10)
    rest.set_shared(id_a, {"for": "a"})
    assert rest.rpc("oneway", id_b, "forB", {"x": 1}).status_code == 200
    eventually(lambda: a.messages and b.messages)
    a.client.publish("v1/devices/me/telemetry", json.dumps({"who": "a"}), qos=1).wait_for_publish(10)
    assert eventually(lambda: rest.latest(id_a, "who").get("who"))[0]["value"] == "a"
    assert latest_value(rest, id_b, "who") is None
    assert a.messages == [("v1/devices/me/attributes", {"for": "a"})]
    assert len(b.messages) == 1
    topic, body = b.messages[0]
    assert topic.startswith("v1/devices/me/rpc/request/")
    assert body == {"method": "forB", "params": {"x": 1}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_paho_mqtt_basic_credentials(
    emulator: Emulator, rest: Rest, paho_devices: list[PahoDevice], protocol: paho.MQTTProtocolVersion
) -> None:
    suffix = uuid.uuid4().hex[:8]
    basic = {"clientId": f"cid-{suffix}", "userName": f"user-{suffix}", "password": "pw"}
    created = rest.http.post(
        "/api/device-with-credentials",
        json={
            "device": {"name": f"basic-{suffix}", "type": "default"},
            "credentials": {"credentialsType": "MQTT_BASIC", "credentialsValue": json.dumps(basic)},
        },
    )
    created.raise_for_status()
    device_id = created.json()["id"]["id"]
    good = paho.Client(CallbackAPIVersion.VERSION2, client_id=basic["clientId"], protocol=protocol)
    good.username_pw_set(basic["userName"], "pw")
    bad = paho.Client(CallbackAPIVersion.VERSION2, client_id=basic["clientId"], protocol=protocol)
    bad.username_pw_set(basic["userName"], "wrong")
    results: dict[str, int] = {}
    for label, client in (("good", good), ("bad", bad)):
        client.on_connect = lambda _c, _u, _f, rc, _p, key=label: results.setdefault(key, int(rc.value))
        client.reconnect_delay_set(60, 120)
        client.connect("127.0.0.1", emulator.mqtt_port)
        client.loop_start()
    try:
        eventually(lambda: len(results) == 2)
        assert results["good"] == 0
        # 3.1.1's CONNACK 5 reaches paho's callback as its v5 name, "Not authorized".
        assert results["bad"] == (0x86 if protocol == paho.MQTTv5 else 0x87)
        good.publish("v1/devices/me/telemetry", '{"basic":1}', qos=1).wait_for_publish(10)
        assert eventually(lambda: latest_value(rest, device_id, "basic")) == "1"
    finally:
        for client in (good, bad):
            client.disconnect()
            client.loop_stop()


def test_shared_attribute_deletion_is_pushed(
    emulator: Emulator, rest: Rest, paho_devices: list[PahoDevice]
) -> None:
    device_id, token = rest.create_device()
    rest.set_shared(device_id, {"mode": "eco", "level": 3})
    dev = PahoDevice(emulator.mqtt_port, token, paho.MQTTv311)
    paho_devices.append(dev)
    subscribed = threading.Event()
    dev.client.on_subscribe = lambda *_: subscribed.set()
    dev.client.subscribe("v1/devices/me/attributes", 1)
    assert subscribed.wait(10)
    deleted = rest.http.delete(
        f"/api/plugins/telemetry/DEVICE/{device_id}/SHARED_SCOPE", params={"keys": "mode"}
    )
    deleted.raise_for_status()
    eventually(lambda: dev.messages)
    assert dev.messages == [("v1/devices/me/attributes", {"deleted": ["mode"]})]


def test_paho_311_malformed_json_is_disconnected(
    emulator: Emulator, rest: Rest, paho_devices: list[PahoDevice]
) -> None:
    device_id, token = rest.create_device()
    dev = PahoDevice(emulator.mqtt_port, token, paho.MQTTv311)
    paho_devices.append(dev)
    dev.client.publish("v1/devices/me/telemetry", "{oops", qos=1)
    eventually(lambda: dev.disconnects)
    assert latest_value(rest, device_id, "oops") is None


def test_dropped_sessions_record_the_disconnect(
    emulator: Emulator, rest: Rest, paho_devices: list[PahoDevice]
) -> None:
    device_id, token = rest.create_device()
    dev = PahoDevice(emulator.mqtt_port, token, paho.MQTTv5)
    paho_devices.append(dev)
    emulator.drop_mqtt_sessions()
    eventually(lambda: dev.disconnects)
    assert eventually(lambda: rest.attributes(device_id, "SERVER_SCOPE").get("lastDisconnectTime"))


def test_oversized_payload_is_refused(emulator: Emulator, rest: Rest, paho_devices: list[PahoDevice]) -> None:
    device_id, token = rest.create_device()
    dev = PahoDevice(emulator.mqtt_port, token, paho.MQTTv311)
    paho_devices.append(dev)
    dev.client.publish(
        "v1/devices/me/telemetry", json.dumps({"blob": "x" * emulator.max_payload_bytes}), qos=1
    )
    eventually(lambda: dev.disconnects)
    assert (
        "blob" not in rest.latest(device_id, "blob")
        or rest.latest(device_id, "blob")["blob"][0]["value"] is None
    )
