"""The firmware state machine under CPython with scripted ports."""

from __future__ import annotations

import json

import pytest

from firmware.core import machine
from firmware.core import status as st
from tests.unit.firmware.fakes import Rig

pytestmark = pytest.mark.unit


def test_a_new_device_waits_in_setup_with_the_access_point_up() -> None:
    rig = Rig()
    assert rig.device.status() == {"statusCode": 0, "title": "", "description": "waiting for configuration"}
    assert rig.wifi.ap_active
    assert not rig.device.paired()


def test_pairing_walks_1_2_3_4_and_publishes_the_pair_message_once() -> None:
    rig = Rig()
    rig.wifi.outcome = machine.WIFI_CONNECTING
    rig.configure()
    seen = [rig.device.status()["statusCode"]]
    for _ in range(5):
        rig.step()
        seen.append(rig.device.status()["statusCode"])
    assert seen[-1] == 1  # still joining
    rig.wifi.outcome = machine.WIFI_GOT_IP
    rig.step()
    assert rig.device.status()["statusCode"] == 2
    assert rig.settle()["statusCode"] == 4
    assert rig.mqtt.connects[0] == ("broker.local", 1883, "token-1", "petit-test-01")
    pairing = rig.mqtt.on(machine.TOPIC_ATTRIBUTES)
    assert pairing == [{"pairKey": "pk-1", "mac": "02:AA:BB:CC:DD:EE", "firmwareVersion": "1.0.0"}]
    assert ("v1/devices/me/attributes", pairing[0], 1) in rig.mqtt.published
    assert rig.device.paired()


def test_the_config_may_name_the_broker() -> None:
    rig = Rig()
    rig.configure(mqttHost="tb.example.com", mqttPort=8883)
    rig.settle()
    assert rig.mqtt.connects[0][:2] == ("tb.example.com", 8883)


def test_info_reports_the_broker_in_use() -> None:
    rig = Rig()
    built_in = rig.device.info()
    assert (built_in["mqttHost"], built_in["mqttPort"]) == (rig.device.identity["mqttHost"], 1883)
    rig.configure(mqttHost="tb.example.com", mqttPort=18883)
    rig.settle()
    info = rig.device.info()
    assert (info["mqttHost"], info["mqttPort"]) == ("tb.example.com", 18883)
    assert rig.mqtt.connects[-1][:2] == ("tb.example.com", 18883)
    # The built-in default is kept for the next setup; /info just does not claim the device uses it.
    assert rig.device.identity["mqttPort"] == 1883
    rebooted = Rig(store=rig.store)
    assert rebooted.device.info()["mqttPort"] == 18883


def test_credentials_are_stored_without_the_spent_pair_key_and_survive_reboot() -> None:
    rig = Rig()
    rig.configure()
    rig.settle()
    assert rig.store.data is not None
    assert "pairKey" not in rig.store.data
    assert rig.store.data["accessToken"] == "token-1"
    rebooted = Rig(store=rig.store)
    assert rebooted.device.paired()
    assert rebooted.device.status()["statusCode"] == 4
    assert not rebooted.wifi.ap_active
    rebooted.run(lambda: rebooted.mqtt.connected_as == "token-1")
    # A reboot does not pair again.
    assert rebooted.mqtt.on(machine.TOPIC_ATTRIBUTES) == []


@pytest.mark.parametrize(
    ("outcome", "title"),
    [
        (machine.WIFI_WRONG_PASSWORD, st.WIFI_CONNECT_BAD_CREDENTIALS),
        (machine.WIFI_NO_AP, st.WIFI_NO_AP_FOUND),
        (machine.WIFI_FAILED, st.WIFI_CONNECT_BAD_CREDENTIALS),
        (machine.WIFI_CONNECTING, st.WIFI_CONNECT_BAD_CREDENTIALS),  # never joins: times out
    ],
)
def test_wifi_failures_are_status_5_and_setup_stays_open(outcome: str, title: str) -> None:
    rig = Rig(wifi_timeout_s=2.0)
    rig.wifi.outcome = outcome
    rig.configure()
    final = rig.settle()
    assert (final["statusCode"], final["title"]) == (5, title)
    assert rig.wifi.ap_active
    assert not rig.device.paired()
    assert rig.store.data is None
    rig.wifi.outcome = machine.WIFI_GOT_IP
    rig.configure()
    assert rig.settle()["statusCode"] == 4


@pytest.mark.parametrize(
    "title",
    [
        st.MQTT_CONNECT_BAD_CREDENTIALS,
        st.MQTT_CONNECT_FAILED,
        st.MQTT_CONNECTION_TIMEOUT,
        st.MQTT_CONNECT_UNAVAILABLE,
    ],
)
def test_server_connect_failures_are_status_6_with_the_mapped_title(title: str) -> None:
    rig = Rig()
    rig.mqtt.fail_connect = title
    rig.configure()
    final = rig.settle()
    assert (final["statusCode"], final["title"]) == (6, title)
    assert final["description"] == "scripted"
    assert not rig.device.paired()


def test_no_puback_is_server_request_timeout() -> None:
    rig = Rig()
    rig.mqtt.fail_publish = st.SERVER_REQUEST_TIMEOUT
    rig.configure()
    assert rig.settle()["title"] == st.SERVER_REQUEST_TIMEOUT


def test_a_config_while_busy_or_paired_is_refused_by_state() -> None:
    rig = Rig()
    rig.wifi.outcome = machine.WIFI_CONNECTING
    rig.configure()
    assert rig.device.busy()
    rig.wifi.outcome = machine.WIFI_GOT_IP
    rig.settle()
    assert not rig.device.busy()
    assert rig.device.paired()


def test_telemetry_follows_the_interval_and_streaming() -> None:
    rig = Rig(telemetry_interval_s=10.0, stream_interval_s=1.0)
    rig.configure()
    rig.settle()
    start = rig.clock.t
    rig.run(lambda: rig.clock.t - start >= 35)
    sent = rig.mqtt.on(machine.TOPIC_TELEMETRY)
    assert 3 <= len(sent) <= 5
    assert {"uptime", "led", "rssi"} <= set(sent[0])
    rig.mqtt.inbox.append(("v1/devices/me/rpc/request/7", json.dumps({"method": "toggleStream"}).encode()))
    before = len(sent)
    start = rig.clock.t
    rig.run(lambda: rig.clock.t - start >= 10)
    assert len(rig.mqtt.on(machine.TOPIC_TELEMETRY)) - before >= 9
    assert rig.mqtt.on("v1/devices/me/rpc/response/7") == [{"streaming": True}]


def test_rpc_handlers() -> None:
    rig = Rig()
    device = rig.device
    assert device.call("setLed", {"on": True}) == {"led": True}
    assert device.call("setLed", True) == {"led": True}
    assert "error" in device.call("setLed", {"on": "yes"})
    assert device.call("toggleStream", {"enabled": True}) == {"streaming": True}
    assert device.call("toggleStream", None) == {"streaming": False}
    assert device.call("setTelemetryInterval", {"seconds": 5}) == {"telemetryInterval": 5.0}
    assert "error" in device.call("setTelemetryInterval", {"seconds": -1})
    assert "error" in device.call("setTelemetryInterval", {"seconds": True})
    assert device.call("getState", {})["led"] is True
    assert device.call("getInfo", {})["mac"] == "02:AA:BB:CC:DD:EE"
    assert device.call("nope", {}) == {"error": "unknown method 'nope'"}


def test_shared_attributes_push_and_response() -> None:
    rig = Rig()
    rig.configure()
    rig.settle()
    request = rig.mqtt.on("v1/devices/me/attributes/request/1")
    assert request == [{"sharedKeys": "telemetryInterval,led"}]
    rig.mqtt.inbox.append(("v1/devices/me/attributes", b'{"led": true, "telemetryInterval": 3}'))
    rig.step()
    assert rig.device.led
    assert rig.device.interval == 3.0
    assert rig.store.data is not None
    assert rig.store.data["telemetryInterval"] == 3.0
    rig.mqtt.inbox.append(("v1/devices/me/attributes/response/1", b'{"shared": {"telemetryInterval": 30}}'))
    rig.step()
    assert rig.device.interval == 30.0
    # Garbage and wrong types are ignored, not fatal.
    rig.mqtt.inbox.append(("v1/devices/me/attributes", b"not json"))
    rig.mqtt.inbox.append(("v1/devices/me/attributes", b'{"telemetryInterval": "fast", "led": 1}'))
    rig.step()
    assert rig.device.interval == 30.0
    assert rig.device.led is True


def test_reconnect_backoff_doubles_up_to_the_cap_then_resets() -> None:
    rig = Rig(backoff_base_s=1.0, backoff_max_s=8.0)
    rig.configure()
    rig.settle()
    rig.mqtt.fail_connect = st.MQTT_CONNECT_FAILED
    rig.mqtt.drop = True
    delays = []
    for _ in range(60):
        before = rig.clock.t
        rig.step()
        if rig.clock.t - before >= 1.0:
            delays.append(rig.clock.t - before)
        if len(delays) >= 6:
            break
    assert delays[:6] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert rig.device.last_error == st.MQTT_CONNECT_FAILED
    rig.mqtt.fail_connect = None
    rig.run(lambda: rig.mqtt.connected_as is not None)
    rig.step()
    assert rig.device.last_error == ""
    assert rig.device._backoff == 0.0


def test_losing_wifi_while_operating_reconnects() -> None:
    rig = Rig()
    rig.configure()
    rig.settle()
    rig.wifi.outcome = machine.WIFI_NO_AP
    rig.step()
    assert rig.device.last_error == st.MQTT_CONNECTION_LOST
    assert rig.mqtt.connected_as is None
    rig.wifi.outcome = machine.WIFI_GOT_IP
    rig.run(lambda: rig.mqtt.connected_as == "token-1")


def test_factory_reset_forgets_everything() -> None:
    rig = Rig()
    rig.configure()
    rig.settle()
    rig.device.request_reset()
    rig.step()
    assert rig.store.data is None
    assert rig.device.status()["statusCode"] == 0
    assert rig.wifi.ap_active
    assert rig.device.owner_key() == ""


def test_claim_request_is_published_with_the_secret() -> None:
    rig = Rig()
    rig.configure(claimSecret="s3cret", claimDurationMs=60000)
    rig.settle()
    assert rig.mqtt.on(machine.TOPIC_CLAIM) == [{"secretKey": "s3cret", "durationMs": 60000}]
    assert rig.store.data is not None
    assert "claimSecret" not in rig.store.data


def test_provisioning_obtains_the_token_first() -> None:
    rig = Rig()
    answer = {"status": "SUCCESS", "credentialsType": "ACCESS_TOKEN", "credentialsValue": "minted"}
    original_publish = rig.mqtt.publish

    def publish(topic: str, payload: bytes, qos: int) -> None:
        original_publish(topic, payload, qos)
        if topic == machine.TOPIC_PROVISION_REQUEST:
            rig.mqtt.inbox.append((machine.TOPIC_PROVISION_RESPONSE, json.dumps(answer).encode()))

    rig.mqtt.publish = publish  # type: ignore[method-assign]
    config = rig.configure(provisionDeviceKey="k", provisionDeviceSecret="s")
    del config["accessToken"]
    rig.device.submit_config(config)
    assert rig.settle()["statusCode"] == 4
    assert [c[2] for c in rig.mqtt.connects] == ["provision", "minted"]
    assert rig.mqtt.on(machine.TOPIC_PROVISION_REQUEST)[0]["deviceName"] == "petit-test-01"


def test_provisioning_refused_is_server_error() -> None:
    rig = Rig()
    original_publish = rig.mqtt.publish

    def publish(topic: str, payload: bytes, qos: int) -> None:
        original_publish(topic, payload, qos)
        if topic == machine.TOPIC_PROVISION_REQUEST:
            refusal = {"status": "NOT_FOUND", "errorMsg": "Provision data was not found!"}
            rig.mqtt.inbox.append((machine.TOPIC_PROVISION_RESPONSE, json.dumps(refusal).encode()))

    rig.mqtt.publish = publish  # type: ignore[method-assign]
    config = rig.configure(provisionDeviceKey="k")
    del config["accessToken"]
    rig.device.submit_config(config)
    final = rig.settle()
    assert (final["statusCode"], final["title"], final["description"]) == (
        6,
        st.SERVER_ERROR,
        "Provision data was not found!",
    )


def test_owner_key_comparison() -> None:
    assert machine.equal_secret("owner-key-1", "owner-key-1")
    assert not machine.equal_secret("owner-key-1", "owner-key-2")
    assert not machine.equal_secret("owner-key-1", "owner-key-12")
    assert not machine.equal_secret("", "x")


class FakeWeb:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object], dict[str, str]]] = []
        self.answers: list[tuple[int, dict[str, object]] | st.MqttFailure] = []

    def post(
        self, url: str, body: dict[str, object], headers: dict[str, str]
    ) -> tuple[int, dict[str, object]]:
        self.calls.append((url, body, headers))
        answer = self.answers.pop(0) if self.answers else (200, {"status": "ok"})
        if isinstance(answer, st.MqttFailure):
            raise answer
        return answer


def gateway_rig() -> tuple[Rig, FakeWeb]:
    rig = Rig(backoff_base_s=1.0, backoff_max_s=4.0, telemetry_interval_s=10.0)
    web = FakeWeb()
    rig.device.web = web
    return rig, web


def test_seed_004_gateway_claim_then_http_ingest() -> None:
    rig, web = gateway_rig()
    web.answers.append(
        (200, {"device_id": 1, "api_key": "key-1", "ingest_url": "http://gw/gateway/device-data/ingest"})
    )
    config = rig.configure(gatewayUrl="http://gw/", gatewayToken="one-time")
    del config["accessToken"]
    rig.device.submit_config(config)
    assert rig.settle()["statusCode"] == 4
    url, body, headers = web.calls[0]
    assert url == "http://gw/gateway/devices/claim"
    assert body == {"token": "one-time", "device_metadata": {"fw": "1.0.0", "mac": "02:AA:BB:CC:DD:EE"}}
    assert headers == {}
    assert rig.mqtt.connects == []  # HTTP devices never touch MQTT
    assert rig.store.data is not None
    assert "gatewayToken" not in rig.store.data
    assert rig.store.data["apiKey"] == "key-1"
    start = rig.clock.t
    rig.run(lambda: rig.clock.t - start >= 25)
    ingests = [c for c in web.calls if c[0].endswith("/ingest")]
    assert 2 <= len(ingests) <= 4
    assert ingests[0][2] == {"Authorization": "Bearer key-1"}
    assert "uptime" in ingests[0][1]
    # Reboot: the stored API key is enough.
    rebooted = Rig(store=rig.store)
    assert rebooted.device.paired()


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ((400, {"detail": "invalid token"}), st.SERVER_ERROR),
        ((200, {"device_id": 1}), st.SERVER_ERROR),
        (st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "slow"), st.SERVER_REQUEST_TIMEOUT),
    ],
)
def test_seed_004_claim_failures_are_status_6(answer: object, title: str) -> None:
    rig, web = gateway_rig()
    web.answers.append(answer)  # type: ignore[arg-type]
    rig.configure(gatewayUrl="http://gw", gatewayToken="one-time")
    final = rig.settle()
    assert (final["statusCode"], final["title"]) == (6, title)
    assert not rig.device.paired()


def test_seed_004_ingest_failures_back_off() -> None:
    rig, web = gateway_rig()
    web.answers.append((200, {"api_key": "key-1", "ingest_url": "http://gw/ingest"}))
    rig.configure(gatewayUrl="http://gw", gatewayToken="one-time")
    rig.settle()
    web.answers.extend(
        [(503, {}), (503, {}), st.MqttFailure(st.SERVER_ERROR, "refused"), (200, {"status": "ok"})]
    )
    start = rig.clock.t
    rig.run(lambda: rig.device.stats["telemetry"] >= 1)
    # Three failures wait 1 + 2 + 4 s (doubling, capped at 4) before the fourth attempt succeeds.
    assert rig.clock.t - start >= 7.0
    assert rig.device.last_error == ""
    assert rig.device.stats["reconnects"] == 3
