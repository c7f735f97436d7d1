"""The MQTT device transport alone: raw MQTT 3.1.1/5 packets and paho-mqtt against an in-memory DeviceApi.

The fake below stands in for the emulator's core so that these tests pin down the transport's wire behaviour
(CONNACK codes, SUBACK whitelist, PUBACK semantics, closes) independently of entity storage. The conformance
tests against the real ``Emulator`` live in test_mqtt_conformance.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from thingsboard_emulator.contracts import (
    DeviceApiError,
    DeviceRef,
    DeviceSession,
    RpcRequest,
    SessionHandle,
)
from thingsboard_emulator.mqtt import MqttServer
from thingsboard_emulator.mqtt import codec as c

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

pytestmark = pytest.mark.integration

V311, V5 = c.MQTT_3_1_1, c.MQTT_5


# -- an in-memory core -------------------------------------------------------------------------------------


@dataclass
class FakeDeviceApi:
    """Just enough of the core to observe what the transport hands over and to push downlink traffic."""

    devices: dict[str, DeviceRef] = field(default_factory=dict)
    sessions: dict[str, tuple[SessionHandle, DeviceSession]] = field(default_factory=dict)
    telemetry: dict[str, list[Any]] = field(default_factory=dict)
    client_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    shared_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    rpc_replies: list[tuple[str, int, Any]] = field(default_factory=list)
    client_rpcs: list[tuple[str, int, Any]] = field(default_factory=list)
    claims: list[tuple[str, Any]] = field(default_factory=list)
    pending_rpc: dict[str, list[RpcRequest]] = field(default_factory=dict)
    activity: dict[str, int] = field(default_factory=dict)
    closed_sessions: int = 0
    answer_client_rpc: bool = True
    _rpc_ids: itertools.count[int] = field(default_factory=itertools.count)

    def add_device(self, name: str | None = None) -> tuple[str, DeviceRef]:
        token = uuid.uuid4().hex[:20]
        ref = DeviceRef(str(uuid.uuid4()), name or f"dev-{token}", "tenant-1", "profile-1")
        self.devices[token] = ref
        return token, ref

    # DeviceApi

    def authenticate(self, access_token: str) -> DeviceRef | None:
        return self.devices.get(access_token)

    def open_session(self, device: DeviceRef, session: DeviceSession) -> SessionHandle:
        handle = SessionHandle(uuid.uuid4().hex, device)
        self.sessions[handle.session_id] = (handle, session)
        return handle

    def close_session(self, handle: SessionHandle) -> None:
        self.sessions.pop(handle.session_id, None)
        self.closed_sessions += 1

    def subscribe_rpc(self, handle: SessionHandle) -> None:
        handle.rpc_subscribed = True
        _, session = self.sessions[handle.session_id]
        for request in self.pending_rpc.pop(handle.device.device_id, []):
            session.deliver_rpc_request(request)

    def subscribe_attributes(self, handle: SessionHandle) -> None:
        handle.attributes_subscribed = True

    def post_telemetry(self, device: DeviceRef, payload: Any) -> None:
        if isinstance(payload, list) and not all(isinstance(item, dict) for item in payload):
            raise DeviceApiError("bad_payload", "array of non-objects")
        self.telemetry.setdefault(device.device_id, []).append(payload)

    def post_attributes(self, device: DeviceRef, payload: Any) -> None:
        self.client_attributes.setdefault(device.device_id, {}).update(payload)

    def request_attributes(
        self, device: DeviceRef, client_keys: list[str] | None, shared_keys: list[str] | None
    ) -> dict[str, dict[str, Any]]:
        everything = client_keys is None and shared_keys is None
        result: dict[str, dict[str, Any]] = {}
        for section, store, keys in (
            ("client", self.client_attributes, client_keys),
            ("shared", self.shared_attributes, shared_keys),
        ):
            values = store.get(device.device_id, {})
            if keys is not None or everything:
                picked = {k: v for k, v in values.items() if keys is None or k in keys}
                if picked:
                    result[section] = picked
        return result

    def reply_to_rpc(self, device: DeviceRef, request_id: int, payload: Any) -> None:
        self.rpc_replies.append((device.device_id, request_id, payload))

    def client_rpc(self, handle: SessionHandle, request_id: int, payload: Any) -> None:
        self.client_rpcs.append((handle.device.device_id, request_id, payload))
        if self.answer_client_rpc:
            _, session = self.sessions[handle.session_id]
            session.deliver_client_rpc_response(request_id, {"echo": payload["params"]})

    def claim(self, device: DeviceRef, payload: Any) -> None:
        self.claims.append((device.device_id, payload))

    def provision(self, request: Any) -> dict[str, Any]:
        if request.get("provisionDeviceKey") != "pkey" or request.get("provisionDeviceSecret") != "psecret":
            return {"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
        token = request.get("token") or uuid.uuid4().hex[:20]
        self.devices[token] = DeviceRef(str(uuid.uuid4()), request["deviceName"], "tenant-1", "profile-1")
        return {"credentialsValue": token, "credentialsType": "ACCESS_TOKEN", "status": "SUCCESS"}

    def record_activity(self, device: DeviceRef) -> None:
        self.activity[device.device_id] = self.activity.get(device.device_id, 0) + 1

    # what the REST side would do

    def send_rpc(self, device: DeviceRef, method: str, params: Any) -> int:
        request = RpcRequest(next(self._rpc_ids), method, params, one_way=False)
        targets = [s for h, s in self.sessions.values() if h.device == device and h.rpc_subscribed]
        if not targets:
            self.pending_rpc.setdefault(device.device_id, []).append(request)
        for session in targets:
            session.deliver_rpc_request(request)
        return request.request_id

    def set_shared(self, device: DeviceRef, values: dict[str, Any]) -> None:
        self.shared_attributes.setdefault(device.device_id, {}).update(values)
        for handle, session in list(self.sessions.values()):
            if handle.device == device and handle.attributes_subscribed:
                session.deliver_attribute_update(values)

    def sessions_of(self, device: DeviceRef) -> list[DeviceSession]:
        return [s for h, s in self.sessions.values() if h.device == device]


async def eventually(condition: Callable[[], Any], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


@pytest.fixture
def api() -> FakeDeviceApi:
    return FakeDeviceApi()


@pytest.fixture
async def server(api: FakeDeviceApi) -> AsyncIterator[MqttServer]:
    srv = MqttServer(api, "127.0.0.1", 0, max_payload_bytes=1024, provision_close_delay_s=0.5)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


# -- a raw MQTT client -------------------------------------------------------------------------------------


_OPEN_CLIENTS: list[RawClient] = []


@pytest.fixture(autouse=True)
async def _close_raw_clients() -> AsyncIterator[None]:
    yield
    while _OPEN_CLIENTS:
        await _OPEN_CLIENTS.pop().close()


class RawClient:
    """Speaks bytes so tests can send what no well-behaved library would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, level: int) -> None:
        self.reader, self.writer, self.level = reader, writer, level
        self._parser = c.PacketReader()
        self._queue: list[tuple[int, int, bytes]] = []
        self.eof = False

    @classmethod
    async def open(cls, port: int, level: int = V311) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer, level)
        _OPEN_CLIENTS.append(client)
        return client

    @classmethod
    async def connected(cls, port: int, token: str, level: int = V311, keepalive: int = 60) -> RawClient:
        client = await cls.open(port, level)
        client.send(c.encode_connect("cid", username=token, level=level, keepalive=keepalive))
        ptype, _, body = await client.recv()
        assert ptype == c.CONNACK
        assert body[1] == 0
        return client

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv(self, within: float = 5.0) -> tuple[int, int, bytes]:
        deadline = time.monotonic() + within
        while not self._queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.eof:
                raise AssertionError("no packet before the deadline" if not self.eof else "connection closed")
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
            if not data:
                self.eof = True
            self._queue.extend(self._parser.feed(data))
        return self._queue.pop(0)

    async def recv_type(self, ptype: int, within: float = 5.0) -> bytes:
        while True:
            got, _, body = await self.recv(within)
            if got == ptype:
                return body

    async def closed_by_server(self, within: float = 5.0) -> list[tuple[int, int, bytes]]:
        """Wait for EOF; return the packets that arrived before it."""
        deadline = time.monotonic() + within
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("server did not close the connection")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
            self._queue.extend(self._parser.feed(data))
        packets, self._queue = self._queue, []
        return packets

    async def close(self) -> None:
        if self.writer.is_closing():
            return
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def publish_payload(body: bytes, level: int) -> tuple[str, bytes]:
    """``(topic, payload)`` of a server PUBLISH body (QoS 0 or 1)."""
    topic_len = int.from_bytes(body[:2], "big")
    topic = body[2 : 2 + topic_len].decode()
    return topic, body


async def recv_publish(client: RawClient, within: float = 5.0) -> tuple[str, int, Any]:
    """The next PUBLISH as ``(topic, qos, json_payload)``, acknowledging QoS 1."""
    while True:
        ptype, flags, body = await client.recv(within)
        if ptype == c.PUBLISH:
            topic, qos, packet_id, payload = c.decode_publish(flags, body, client.level)
            if qos:
                client.send(bytes((0x40, 2)) + packet_id.to_bytes(2, "big"))
            return topic, qos, json.loads(payload)


# -- CONNECT -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "expected"), [(V311, 0x05), (V5, 0x86)])
async def test_unknown_token_is_refused_with_tbs_code(server: MqttServer, level: int, expected: int) -> None:
    client = await RawClient.open(server.port, level)
    client.send(c.encode_connect("cid", username="no-such-token", level=level))
    packets = await client.closed_by_server()
    assert packets[0][0] == c.CONNACK
    assert packets[0][2][1] == expected
    if level == V5:
        assert packets[1][0] == c.DISCONNECT
        assert packets[1][2][0] == expected
    assert server.session_count == 0


@pytest.mark.parametrize(("level", "expected"), [(V311, 0x02), (V5, 0x85)])
async def test_no_credentials_with_a_client_id_is_identifier_rejected(
    server: MqttServer, level: int, expected: int
) -> None:
    client = await RawClient.open(server.port, level)
    client.send(c.encode_connect("some-client", level=level))
    packets = await client.closed_by_server()
    assert (packets[0][0], packets[0][2][1]) == (c.CONNACK, expected)


@pytest.mark.parametrize(("level", "expected"), [(V311, 0x05), (V5, 0x87)])
async def test_no_credentials_and_empty_client_id_is_not_authorized(
    server: MqttServer, level: int, expected: int
) -> None:
    client = await RawClient.open(server.port, level)
    client.send(c.encode_connect("", level=level))
    packets = await client.closed_by_server()
    assert (packets[0][0], packets[0][2][1]) == (c.CONNACK, expected)


@pytest.mark.parametrize("level", [c.MQTT_3_1, V311, V5])
async def test_valid_token_is_accepted_and_the_session_opened(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    assert server.session_count == 1
    assert len(api.sessions_of(device)) == 1
    client.send(c.encode_disconnect(level))
    await client.closed_by_server()
    await eventually(lambda: api.closed_sessions == 1)
    assert server.session_count == 0


async def test_packet_before_connect_closes_the_connection(server: MqttServer) -> None:
    client = await RawClient.open(server.port)
    client.send(c.encode_publish("v1/devices/me/telemetry", b"{}"))
    assert await client.closed_by_server() == []


async def test_garbage_bytes_close_the_connection_and_the_server_keeps_serving(
    server: MqttServer, api: FakeDeviceApi
) -> None:
    client = await RawClient.open(server.port)
    client.send(b"\x10\xff\xff\xff\xff\x01garbage")
    await client.closed_by_server()
    other = await RawClient.open(server.port)
    other.send(b"GET / HTTP/1.1\r\n\r\n")
    await other.closed_by_server()
    token, _ = api.add_device()
    ok = await RawClient.connected(server.port, token)
    await ok.close()


@pytest.mark.parametrize("level", [V311, V5])
async def test_random_packets_after_connect_never_break_the_server(
    server: MqttServer, api: FakeDeviceApi, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(1234 + level)
    token, _ = api.add_device()
    for _ in range(60):
        client = await RawClient.connected(server.port, token, level)
        first = rng.choice([0x30, 0x32, 0x34, 0x36, 0x40, 0x62, 0x82, 0xA2, 0xC0, 0xE0, 0xF0, 0x10, 0x00])
        body = rng.randbytes(rng.randrange(0, 40))
        client.send(c.frame(first, body) + c.PINGREQ_PACKET)
        try:
            while (await client.recv(within=2))[0] != c.PINGRESP:
                pass
        except AssertionError:
            assert client.eof, "the server neither answered nor closed"
        await client.close()
    await eventually(lambda: server.session_count == 0)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    ok = await RawClient.connected(server.port, token, level)
    ok.send(c.PINGREQ_PACKET)
    assert (await ok.recv())[0] == c.PINGRESP


async def test_unsupported_protocol_level_is_closed(server: MqttServer) -> None:
    client = await RawClient.open(server.port)
    client.send(c.frame(0x10, b"\x00\x04MQTT\x07\x02\x00\x3c\x00\x00"))
    await client.closed_by_server()


# -- PUBLISH uplink ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [V311, V5])
async def test_telemetry_qos1_is_acked_after_the_core_has_it(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    client.send(c.encode_publish("v1/devices/me/telemetry", b'{"t":21.5}', qos=1, packet_id=7, level=level))
    body = await client.recv_type(c.PUBACK)
    assert c.decode_packet_id(body) == 7
    assert api.telemetry[device.device_id] == [{"t": 21.5}]
    client.send(c.encode_publish("v1/devices/me/telemetry", b'[{"ts":1,"values":{"a":1}}]', level=level))
    await eventually(lambda: len(api.telemetry[device.device_id]) == 2)
    await client.close()


@pytest.mark.parametrize("level", [V311, V5])
async def test_client_attributes_and_claim_reach_the_core(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    client.send(
        c.encode_publish("v1/devices/me/attributes", b'{"fw":"1.0"}', qos=1, packet_id=1, level=level)
    )
    await client.recv_type(c.PUBACK)
    client.send(
        c.encode_publish("v1/devices/me/claim", b'{"secretKey":"s"}', qos=1, packet_id=2, level=level)
    )
    await client.recv_type(c.PUBACK)
    client.send(c.encode_publish("v1/devices/me/claim", b"", qos=1, packet_id=3, level=level))
    await client.recv_type(c.PUBACK)
    assert api.client_attributes[device.device_id] == {"fw": "1.0"}
    assert api.claims == [(device.device_id, {"secretKey": "s"}), (device.device_id, {})]
    await client.close()


@pytest.mark.parametrize(
    "payload", [b"{not json", b"42", b'"text"', b"", b"\xff\xfe\x00", b"[1,2]"], ids=repr
)
async def test_malformed_telemetry_closes_a_311_session_without_puback(
    server: MqttServer, api: FakeDeviceApi, payload: bytes
) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, V311)
    client.send(c.encode_publish("v1/devices/me/telemetry", payload, qos=1, packet_id=5))
    packets = await client.closed_by_server()
    assert all(p[0] != c.PUBACK for p in packets)
    assert device.device_id not in api.telemetry


async def test_malformed_json_on_v5_qos1_gets_puback_0x99_and_the_session_stays(
    server: MqttServer, api: FakeDeviceApi
) -> None:
    token, _device = api.add_device()
    client = await RawClient.connected(server.port, token, V5)
    client.send(c.encode_publish("v1/devices/me/attributes", b"[1]", qos=1, packet_id=9, level=V5))
    body = await client.recv_type(c.PUBACK)
    assert c.decode_packet_id(body) == 9
    assert body[2] == 0x99
    client.send(c.PINGREQ_PACKET)
    assert (await client.recv())[0] == c.PINGRESP
    await client.close()


async def test_malformed_json_on_v5_qos0_is_disconnected_with_0x99(
    server: MqttServer, api: FakeDeviceApi
) -> None:
    token, _ = api.add_device()
    client = await RawClient.connected(server.port, token, V5)
    client.send(c.encode_publish("v1/devices/me/telemetry", b"{", level=V5))
    packets = await client.closed_by_server()
    assert packets == [(c.DISCONNECT, 0, b"\x99\x00")]


@pytest.mark.parametrize(("level", "ack"), [(V311, b"\x00\x03"), (V5, b"\x00\x03\x90\x00")])
async def test_publish_to_an_unknown_topic_is_acked_as_invalid_and_kept_open(
    server: MqttServer, api: FakeDeviceApi, level: int, ack: bytes
) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    client.send(c.encode_publish("v1/devices/other/telemetry", b"{}", qos=1, packet_id=3, level=level))
    assert await client.recv_type(c.PUBACK) == ack
    assert api.activity[device.device_id] >= 1
    client.send(c.PINGREQ_PACKET)
    assert (await client.recv())[0] == c.PINGRESP
    await client.close()


@pytest.mark.parametrize("level", [V311, V5])
async def test_oversized_packet_is_refused_by_closing(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    big = json.dumps({"blob": "x" * 2000}).encode()
    client.send(c.encode_publish("v1/devices/me/telemetry", big, qos=1, packet_id=1, level=level))
    packets = await client.closed_by_server()
    assert all(p[0] != c.PUBACK for p in packets)
    assert device.device_id not in api.telemetry


async def test_payload_just_under_the_limit_is_accepted(server: MqttServer, api: FakeDeviceApi) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token)
    topic = "v1/devices/me/telemetry"
    filler = 1024 - (2 + len(topic) + 2) - len(b'{"b":""}')
    client.send(c.encode_publish(topic, b'{"b":"' + b"y" * filler + b'"}', qos=1, packet_id=1))
    await client.recv_type(c.PUBACK)
    assert len(api.telemetry[device.device_id]) == 1
    await client.close()


async def test_a_small_read_budget_defers_but_never_drops_pipelined_packets(api: FakeDeviceApi) -> None:
    srv = MqttServer(api, "127.0.0.1", 0, packets_per_iteration=2)
    await srv.start()
    try:
        tokens = [api.add_device()[0] for _ in range(3)]
        clients = [await RawClient.connected(srv.port, token, V5) for token in tokens]
        for client in clients:
            burst = b"".join(
                c.encode_publish("v1/devices/me/telemetry", b'{"n":%d}' % n, qos=1, packet_id=n + 1, level=V5)
                for n in range(20)
            )
            client.send(burst + c.PINGREQ_PACKET)
        for client in clients:
            acked = [c.decode_packet_id(await client.recv_type(c.PUBACK)) for _ in range(20)]
            assert acked == list(range(1, 21))
            assert (await client.recv())[0] == c.PINGRESP
        assert sorted(len(values) for values in api.telemetry.values()) == [20, 20, 20]
        assert all(values == [{"n": n} for n in range(20)] for values in api.telemetry.values())
    finally:
        await srv.stop()


# -- SUBSCRIBE ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "refused"), [(V311, 0x80), (V5, 0x8F)])
async def test_subscription_whitelist_and_qos_capped_at_1(
    server: MqttServer, api: FakeDeviceApi, level: int, refused: int
) -> None:
    token, _ = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    requested = [
        ("v1/devices/me/attributes", 2),
        ("v1/devices/me/attributes/response/+", 1),
        ("v1/devices/me/rpc/request/+", 0),
        ("v1/devices/me/rpc/response/+", 1),
        ("#", 0),
        ("v1/devices/+/telemetry", 1),
        ("v1/devices/me/telemetry", 1),
    ]
    client.send(c.encode_subscribe(11, requested, level))
    body = await client.recv_type(c.SUBACK)
    assert c.decode_packet_id(body) == 11
    codes = list(body[3:] if level == V5 else body[2:])
    assert codes == [1, 1, 0, 1, refused, refused, refused]
    await client.close()


@pytest.mark.parametrize("level", [V311, V5])
async def test_unsubscribe_stops_attribute_pushes(server: MqttServer, api: FakeDeviceApi, level: int) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    client.send(c.encode_subscribe(1, [("v1/devices/me/attributes", 1)], level))
    await client.recv_type(c.SUBACK)
    client.send(c.encode_unsubscribe(2, ["v1/devices/me/attributes", "v1/devices/me/nothing"], level))
    body = await client.recv_type(c.UNSUBACK)
    assert c.decode_packet_id(body) == 2
    if level == V5:
        assert list(body[3:]) == [0x00, 0x11]
    api.set_shared(device, {"x": 1})
    client.send(c.PINGREQ_PACKET)
    assert (await client.recv())[0] == c.PINGRESP
    await client.close()


# -- downlink and request/response -------------------------------------------------------------------------


@pytest.mark.parametrize("level", [V311, V5])
async def test_attribute_request_is_answered_on_the_response_topic(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    token, device = api.add_device()
    api.client_attributes[device.device_id] = {"a": 1, "b": 2}
    api.shared_attributes[device.device_id] = {"c": "x", "d": True}
    client = await RawClient.connected(server.port, token, level)
    client.send(c.encode_subscribe(1, [("v1/devices/me/attributes/response/+", 1)], level))
    await client.recv_type(c.SUBACK)
    request = b'{"clientKeys":"a","sharedKeys":"c,d"}'
    client.send(
        c.encode_publish("v1/devices/me/attributes/request/42", request, qos=1, packet_id=4, level=level)
    )
    await client.recv_type(c.PUBACK)
    topic, qos, payload = await recv_publish(client)
    assert (topic, qos) == ("v1/devices/me/attributes/response/42", 1)
    assert payload == {"client": {"a": 1}, "shared": {"c": "x", "d": True}}
    client.send(c.encode_publish("v1/devices/me/attributes/request/43", b"{}", level=level))
    topic, qos, payload = await recv_publish(client)
    assert (topic, qos) == ("v1/devices/me/attributes/response/43", 1)
    assert payload == {"client": {"a": 1, "b": 2}, "shared": {"c": "x", "d": True}}
    await client.close()


async def test_attribute_request_with_a_bad_id_is_a_payload_error(
    server: MqttServer, api: FakeDeviceApi
) -> None:
    token, _ = api.add_device()
    client = await RawClient.connected(server.port, token)
    client.send(c.encode_publish("v1/devices/me/attributes/request/abc", b"{}", qos=1, packet_id=1))
    await client.closed_by_server()


@pytest.mark.parametrize("level", [V311, V5])
async def test_server_rpc_queued_until_subscribe_then_answered(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    queued = api.send_rpc(device, "setGpio", {"pin": 7, "value": 1})
    client.send(c.encode_subscribe(1, [("v1/devices/me/rpc/request/+", 1)], level))
    await client.recv_type(c.SUBACK)
    topic, qos, payload = await recv_publish(client)
    assert (topic, qos) == (f"v1/devices/me/rpc/request/{queued}", 1)
    assert payload == {"method": "setGpio", "params": {"pin": 7, "value": 1}}
    live = api.send_rpc(device, "reboot", None)
    topic, _, payload = await recv_publish(client)
    assert topic == f"v1/devices/me/rpc/request/{live}"
    assert payload == {"method": "reboot", "params": None}
    client.send(
        c.encode_publish(
            f"v1/devices/me/rpc/response/{live}", b'{"ok":true}', qos=1, packet_id=2, level=level
        )
    )
    await client.recv_type(c.PUBACK)
    client.send(
        c.encode_publish(f"v1/devices/me/rpc/response/{queued}", b"done", qos=1, packet_id=3, level=level)
    )
    await client.recv_type(c.PUBACK)
    assert api.rpc_replies == [(device.device_id, live, b'{"ok":true}'), (device.device_id, queued, b"done")]
    await client.close()


@pytest.mark.parametrize("level", [V311, V5])
async def test_client_rpc_and_get_session_limits(server: MqttServer, api: FakeDeviceApi, level: int) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token, level)
    client.send(c.encode_subscribe(1, [("v1/devices/me/rpc/response/+", 1)], level))
    await client.recv_type(c.SUBACK)
    limits = b'{"method":"getSessionLimits","params":{"timeout":5000}}'
    client.send(c.encode_publish("v1/devices/me/rpc/request/1", limits, qos=1, packet_id=5, level=level))
    topic, _, payload = await recv_publish(client)
    assert topic == "v1/devices/me/rpc/response/1"
    assert payload["maxPayloadSize"] == 1024
    assert payload["maxInflightMessages"] > 0
    assert set(payload["rateLimits"]) == {"messages", "telemetryMessages", "telemetryDataPoints"}
    assert api.client_rpcs == []
    client.send(
        c.encode_publish("v1/devices/me/rpc/request/2", b'{"method":"getTime","params":{"z":1}}', level=level)
    )
    topic, _, payload = await recv_publish(client)
    assert (topic, payload) == ("v1/devices/me/rpc/response/2", {"echo": {"z": 1}})
    assert api.client_rpcs == [(device.device_id, 2, {"method": "getTime", "params": {"z": 1}})]
    await client.close()


async def test_client_rpc_without_method_is_a_payload_error(server: MqttServer, api: FakeDeviceApi) -> None:
    token, _ = api.add_device()
    client = await RawClient.connected(server.port, token, V5)
    client.send(
        c.encode_publish("v1/devices/me/rpc/request/1", b'{"params":{}}', qos=1, packet_id=1, level=V5)
    )
    body = await client.recv_type(c.PUBACK)
    assert body[2] == 0x99
    await client.close()


async def test_me_is_strictly_the_connected_device(server: MqttServer, api: FakeDeviceApi) -> None:
    token_a, dev_a = api.add_device()
    token_b, dev_b = api.add_device()
    a = await RawClient.connected(server.port, token_a)
    b = await RawClient.connected(server.port, token_b, V5)
    subs = [("v1/devices/me/attributes", 1), ("v1/devices/me/rpc/request/+", 1)]
    for client in (a, b):
        client.send(c.encode_subscribe(1, subs, client.level))
        await client.recv_type(c.SUBACK)
    api.set_shared(dev_a, {"only": "a"})
    rpc_b = api.send_rpc(dev_b, "forB", {})
    assert await recv_publish(a) == ("v1/devices/me/attributes", 1, {"only": "a"})
    assert await recv_publish(b) == (
        f"v1/devices/me/rpc/request/{rpc_b}",
        1,
        {"method": "forB", "params": {}},
    )
    a.send(c.encode_publish("v1/devices/me/telemetry", b'{"from":"a"}', qos=1, packet_id=1))
    await a.recv_type(c.PUBACK)
    # Nothing else may be waiting on either side: a PINGRESP must be the very next packet.
    for client in (a, b):
        client.send(c.PINGREQ_PACKET)
        assert (await client.recv())[0] == c.PINGRESP
    assert api.telemetry == {dev_a.device_id: [{"from": "a"}]}
    await a.close()
    await b.close()


# -- keepalive, ping, session control ----------------------------------------------------------------------


async def test_pingreq_gets_pingresp_and_counts_as_activity(server: MqttServer, api: FakeDeviceApi) -> None:
    token, device = api.add_device()
    client = await RawClient.connected(server.port, token)
    client.send(c.PINGREQ_PACKET)
    assert await client.recv() == (c.PINGRESP, 0, b"")
    assert api.activity[device.device_id] == 1
    await client.close()


@pytest.mark.parametrize("level", [V311, V5])
async def test_silence_beyond_one_and_a_half_keepalives_disconnects(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    token, _ = api.add_device()
    started = time.monotonic()
    client = await RawClient.connected(server.port, token, level, keepalive=1)
    packets = await client.closed_by_server(within=5)
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 3.5
    if level == V5:
        assert packets == [(c.DISCONNECT, 0, b"\x8d\x00")]
    await eventually(lambda: api.closed_sessions == 1)


async def test_pings_keep_a_session_alive(server: MqttServer, api: FakeDeviceApi) -> None:
    token, _ = api.add_device()
    client = await RawClient.connected(server.port, token, keepalive=1)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        client.send(c.PINGREQ_PACKET)
        assert (await client.recv())[0] == c.PINGRESP
        await asyncio.sleep(0.2)  # pacing well inside the 1.5 s allowance
    assert server.session_count == 1
    await client.close()


async def test_will_and_clean_session_false_are_accepted(server: MqttServer, api: FakeDeviceApi) -> None:
    token, _ = api.add_device()
    client = await RawClient.open(server.port)
    will = c._str_field("v1/devices/me/telemetry") + c._binary_field(b'{"dead":1}')
    payload = c._str_field("cid") + will + c._str_field(token)
    header = c._str_field("MQTT") + bytes((4, 0x80 | 0x04 | 0x08)) + (30).to_bytes(2, "big")
    client.send(c.frame(0x10, header + payload))
    ptype, _, body = await client.recv()
    assert (ptype, body) == (c.CONNACK, b"\x01\x00")
    client.writer.transport.abort()
    await eventually(lambda: api.closed_sessions == 1)
    assert api.telemetry == {}


async def test_core_close_and_drop_all_sessions(server: MqttServer, api: FakeDeviceApi) -> None:
    token, device = api.add_device()
    v5 = await RawClient.connected(server.port, token, V5)
    v3 = await RawClient.connected(server.port, token, V311)
    first_session = api.sessions_of(device)[0]  # sessions open in CONNECT order: the v5 one first
    first_session.close("credentials updated")
    assert await v5.closed_by_server() == [(c.DISCONNECT, 0, b"\x98\x00")]
    assert server.session_count == 1
    server.drop_all_sessions()
    await v3.closed_by_server()
    await eventually(lambda: server.session_count == 0 and api.closed_sessions == 2)


# -- provisioning ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [V311, V5])
async def test_provision_session_answers_then_closes(
    server: MqttServer, api: FakeDeviceApi, level: int
) -> None:
    client = await RawClient.connected(server.port, "provision", level)
    client.send(c.encode_subscribe(1, [("/provision/response", 1), ("v1/devices/me/attributes", 1)], level))
    body = await client.recv_type(c.SUBACK)
    assert list(body[-2:]) == [1, 0x8F if level == V5 else 0x80]
    request = {"deviceName": "prov-1", "provisionDeviceKey": "pkey", "provisionDeviceSecret": "psecret"}
    client.send(
        c.encode_publish("/provision/request", json.dumps(request).encode(), qos=1, packet_id=2, level=level)
    )
    await client.recv_type(c.PUBACK)
    topic, _, payload = await recv_publish(client)
    assert topic == "/provision/response"
    assert payload["status"] == "SUCCESS"
    assert payload["credentialsType"] == "ACCESS_TOKEN"
    await client.closed_by_server(within=3)
    assert api.devices[payload["credentialsValue"]].name == "prov-1"


async def test_provision_session_publishing_elsewhere_is_closed(server: MqttServer) -> None:
    client = await RawClient.connected(server.port, "provision", V5)
    client.send(c.encode_publish("v1/devices/me/telemetry", b"{}", qos=1, packet_id=1, level=V5))
    packets = await client.closed_by_server()
    assert packets == [(c.PUBACK, 0, b"\x00\x01\x90\x00"), (c.DISCONNECT, 0, b"\x90\x00")]


async def test_provision_by_client_id_and_bad_json(server: MqttServer) -> None:
    client = await RawClient.open(server.port)
    client.send(c.encode_connect("provision"))
    assert (await client.recv())[0] == c.CONNACK
    client.send(c.encode_publish("/provision/request", b"nope", qos=1, packet_id=1))
    await client.closed_by_server()


# -- paho-mqtt, both protocol versions ---------------------------------------------------------------------


class PahoDevice:
    """paho-mqtt in its own network thread, recording what arrives."""

    def __init__(self, port: int, token: str, protocol: paho.MQTTProtocolVersion) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"c-{token}", protocol=protocol)
        self.client.username_pw_set(token)
        self.messages: list[tuple[str, Any]] = []
        self.connack: list[Any] = []
        self.suback: list[list[int]] = []
        self.acked: set[int] = set()
        self.disconnected: list[Any] = []
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.append(rc)
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: self.suback.append(
            [int(x.value) for x in codes]
        )
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnected.append(rc)
        self.client.connect_async("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

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
async def test_paho_round_trip(
    server: MqttServer, api: FakeDeviceApi, paho_devices: list[PahoDevice], protocol: paho.MQTTProtocolVersion
) -> None:
    token, device = api.add_device()
    dev = PahoDevice(server.port, token, protocol)
    paho_devices.append(dev)
    await eventually(lambda: dev.connack)
    assert dev.connack[0] == 0
    dev.client.subscribe([("v1/devices/me/attributes", 1), ("v1/devices/me/rpc/request/+", 1), ("bad/#", 1)])
    await eventually(lambda: dev.suback)
    assert dev.suback[0][:2] == [1, 1]
    assert dev.suback[0][2] >= 0x80
    info = dev.client.publish("v1/devices/me/telemetry", '{"temperature":22}', qos=1)
    await eventually(lambda: info.mid in dev.acked)
    assert api.telemetry[device.device_id] == [{"temperature": 22}]
    api.set_shared(device, {"target": 5})
    request_id = api.send_rpc(device, "ping", {"n": 1})
    await eventually(lambda: len(dev.messages) == 2)
    assert dev.messages == [
        ("v1/devices/me/attributes", {"target": 5}),
        (f"v1/devices/me/rpc/request/{request_id}", {"method": "ping", "params": {"n": 1}}),
    ]


# paho reports a 3.1.1 CONNACK 5 as its v5 equivalent "Not authorized" (0x87); raw tests check the wire byte.
@pytest.mark.parametrize(("protocol", "code"), [(paho.MQTTv311, 0x87), (paho.MQTTv5, 0x86)])
async def test_paho_bad_token(
    server: MqttServer, paho_devices: list[PahoDevice], protocol: paho.MQTTProtocolVersion, code: int
) -> None:
    dev = PahoDevice(server.port, "wrong-token", protocol)
    dev.client.reconnect_delay_set(30, 60)
    paho_devices.append(dev)
    await eventually(lambda: dev.connack)
    rc = dev.connack[0]
    assert isinstance(rc, ReasonCode)
    assert rc.value == code
    assert server.session_count == 0


async def test_paho_v5_sees_malformed_payload_reason(
    server: MqttServer, api: FakeDeviceApi, paho_devices: list[PahoDevice]
) -> None:
    token, _ = api.add_device()
    dev = PahoDevice(server.port, token, paho.MQTTv5)
    paho_devices.append(dev)
    reasons: list[int] = []
    dev.client.on_publish = lambda _c, _u, _mid, rc, _p: reasons.append(int(rc.value))
    await eventually(lambda: dev.connack)
    dev.client.publish(
        "v1/devices/me/telemetry", "{broken", qos=1, properties=Properties(paho.PacketTypes.PUBLISH)
    )
    await eventually(lambda: reasons)
    assert reasons == [0x99]
    assert not dev.disconnected
