"""The WebSocket telemetry API over a real socket, against a small in-memory TelemetryReader.

These pin the wire behaviour (TB's update shape, close codes, error updates, listener cleanup, the bounded
queue) independently of the emulator's core; test_ws_conformance.py repeats the essentials through the real
Emulator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import jwt
import pytest
import uvicorn
from litestar import Litestar
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from thingsboard_emulator.contracts import (
    AttributeScope,
    AttributesUpdate,
    EntityListener,
    Principal,
    TimeseriesUpdate,
)
from thingsboard_emulator.ws import WsSession, create_ws_handlers
from thingsboard_emulator.ws._encoding import value_as_string

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

TENANT_A = str(uuid.uuid4())
TENANT_B = str(uuid.uuid4())
CUSTOMER_1 = str(uuid.uuid4())
CUSTOMER_2 = str(uuid.uuid4())
NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"


@dataclass
class _Entity:
    tenant_id: str
    customer_id: str | None
    ts: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    attrs: dict[str, dict[str, tuple[int, Any]]] = field(default_factory=dict)


class FakeReader:
    """Just enough of the core: entities with an owner, telemetry, attributes and a change feed."""

    def __init__(self) -> None:
        self.entities: dict[str, _Entity] = {}
        self.tokens: dict[str, Principal] = {}
        self.listeners: dict[str, list[EntityListener]] = {}

    # TelemetryReader
    @property
    def events(self) -> FakeReader:
        return self

    def subscribe(self, entity_id: str, listener: EntityListener) -> Callable[[], None]:
        self.listeners.setdefault(entity_id, []).append(listener)
        return lambda: self.listeners[entity_id].remove(listener)

    def authenticate_jwt(self, token: str) -> Principal | None:
        return self.tokens.get(token)

    def can_read(self, principal: Principal, entity_type: str, entity_id: str) -> bool:
        entity = self.entities.get(entity_id)
        if entity is None or entity_type != "DEVICE" or entity.tenant_id != principal.tenant_id:
            return False
        return principal.customer_id is None or principal.customer_id == entity.customer_id

    def latest_timeseries(self, entity_id: str, keys: list[str] | None) -> dict[str, tuple[int, Any]]:
        series = self.entities[entity_id].ts
        return {k: v[0] for k, v in series.items() if v and (keys is None or k in keys)}

    def timeseries_history(
        self,
        entity_id: str,
        keys: list[str],
        start_ts: int,
        end_ts: int,
        *,
        limit: int,
        agg: str,
        interval: int | None,
    ) -> dict[str, list[tuple[int, Any]]]:
        series = self.entities[entity_id].ts
        out = {}
        for key in keys:
            rows = [e for e in series.get(key, []) if start_ts <= e[0] < end_ts][:limit]
            if rows:
                out[key] = rows
        return out

    def attributes(
        self, entity_id: str, scope: AttributeScope | None, keys: list[str] | None
    ) -> dict[str, tuple[int, Any]]:
        out: dict[str, tuple[int, Any]] = {}
        for scope_name, values in self.entities[entity_id].attrs.items():
            if scope is None or scope == scope_name:
                out.update({k: v for k, v in values.items() if keys is None or k in keys})
        return out

    # Test helpers
    def add_device(self, tenant_id: str = TENANT_A, customer_id: str | None = None) -> str:
        device_id = str(uuid.uuid4())
        self.entities[device_id] = _Entity(tenant_id, customer_id)
        return device_id

    def token_for(self, tenant_id: str = TENANT_A, customer_id: str | None = None) -> str:
        token = f"tok-{uuid.uuid4()}"
        authority: Literal["CUSTOMER_USER", "TENANT_ADMIN"] = (
            "CUSTOMER_USER" if customer_id else "TENANT_ADMIN"
        )
        self.tokens[token] = Principal(str(uuid.uuid4()), tenant_id, customer_id, authority)
        return token

    def post_ts(self, device_id: str, values: dict[str, Any], ts: int | None = None) -> int:
        ts = ts if ts is not None else int(time.time() * 1000)
        series = self.entities[device_id].ts
        for key, value in values.items():
            series.setdefault(key, []).insert(0, (ts, value))
            series[key].sort(key=lambda e: -e[0])
        self._fire(device_id, TimeseriesUpdate(device_id, {k: [(ts, v)] for k, v in values.items()}))
        return ts

    def post_attrs(
        self, device_id: str, scope: AttributeScope, values: dict[str, Any], deleted: tuple[str, ...] = ()
    ) -> int:
        ts = int(time.time() * 1000)
        stored = self.entities[device_id].attrs.setdefault(scope, {})
        stored.update({k: (ts, v) for k, v in values.items()})
        for key in deleted:
            stored.pop(key, None)
        update = AttributesUpdate(device_id, scope, {k: (ts, v) for k, v in values.items()}, deleted)
        self._fire(device_id, update)
        return ts

    def listener_count(self, device_id: str) -> int:
        return len(self.listeners.get(device_id, []))

    def _fire(self, device_id: str, update: TimeseriesUpdate | AttributesUpdate) -> None:
        for listener in list(self.listeners.get(device_id, [])):
            listener(update)


@dataclass
class WsServer:
    reader: FakeReader
    url: str

    def connect(self, path: str = "/api/ws", **kwargs: Any) -> Any:
        return connect(self.url + path, open_timeout=5, close_timeout=2, **kwargs)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _serve(reader: FakeReader, **handler_options: Any) -> AsyncIterator[WsServer]:
    app = Litestar(route_handlers=create_ws_handlers(reader, **handler_options))
    config = uvicorn.Config(app, ws="websockets-sansio", log_level="warning", lifespan="off")
    config.load()
    server = uvicorn.Server(config)
    # startup()/shutdown() rather than serve(): serve() would take over the process's signal handlers.
    server.lifespan = config.lifespan_class(config)
    sock = _free_socket()
    await server.startup(sockets=[sock])
    port = sock.getsockname()[1]
    try:
        yield WsServer(reader, f"ws://127.0.0.1:{port}")
    finally:
        await asyncio.wait_for(server.shutdown(), 10)
        sock.close()


@pytest.fixture
async def ws_server() -> AsyncIterator[WsServer]:
    async for server in _serve(FakeReader()):
        yield server


async def recv_json(ws: ClientConnection, within: float = 5) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), within)
    message = json.loads(raw)
    assert isinstance(message, dict)
    return message


async def read_until_closed(ws: ClientConnection, within: float = 5) -> tuple[int, str, int]:
    """Read until the server closes; returns its close code, its reason and how many messages came first."""
    deadline = time.monotonic() + within
    received = 0
    try:
        while True:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            received += 1
    except ConnectionClosed as closed:
        frame = closed.rcvd
    assert frame is not None, "the server closed without a close frame"
    return frame.code, frame.reason, received


async def expect_close(ws: ClientConnection, within: float = 5) -> tuple[int, str]:
    code, reason, _ = await read_until_closed(ws, within)
    return code, reason


async def wait_until(predicate: Callable[[], bool], within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def auth(token: str, *cmds: dict[str, Any]) -> str:
    return json.dumps({"authCmd": {"cmdId": 0, "token": token}, "cmds": list(cmds)})


def ts_cmd(device_id: str, cmd_id: int, **extra: Any) -> dict[str, Any]:
    return {"type": "TIMESERIES", "entityType": "DEVICE", "entityId": device_id, "cmdId": cmd_id, **extra}


def attr_cmd(device_id: str, cmd_id: int, **extra: Any) -> dict[str, Any]:
    return {"type": "ATTRIBUTES", "entityType": "DEVICE", "entityId": device_id, "cmdId": cmd_id, **extra}


# ----- subscriptions and the update format


async def test_timeseries_snapshot_then_deltas_in_tb_format(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    ts0 = reader.post_ts(device, {"temperature": 42.5, "humidity": 73, "on": True, "cfg": {"a": 1}})
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for(), ts_cmd(device, 10, scope="LATEST_TELEMETRY")))
        snapshot = await recv_json(ws)
        assert snapshot == {
            "subscriptionId": 10,
            "errorCode": 0,
            "errorMsg": None,
            "data": {
                "temperature": [[ts0, "42.5"]],
                "humidity": [[ts0, "73"]],
                "on": [[ts0, "true"]],
                "cfg": [[ts0, '{"a":1}']],
            },
            "latestValues": {"temperature": ts0, "humidity": ts0, "on": ts0, "cfg": ts0},
        }
        ts1 = reader.post_ts(device, {"temperature": 43.0}, ts=ts0 + 1)
        delta = await recv_json(ws)
        assert delta["subscriptionId"] == 10
        assert delta["data"] == {"temperature": [[ts1, "43.0"]]}
        assert delta["latestValues"] == {"temperature": ts1}


async def test_timeseries_keys_filter_and_missing_key_is_null(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    ts0 = reader.post_ts(device, {"temperature": 1, "other": 2})
    async with ws_server.connect() as ws:
        before = int(time.time() * 1000)
        await ws.send(auth(reader.token_for(), ts_cmd(device, 3, keys="temperature,missing")))
        snapshot = await recv_json(ws)
        assert snapshot["data"]["temperature"] == [[ts0, "1"]]
        [[missing_ts, missing_value]] = snapshot["data"]["missing"]
        assert missing_value is None
        assert missing_ts >= before
        reader.post_ts(device, {"other": 5})
        ts2 = reader.post_ts(device, {"temperature": 7, "other": 8}, ts=ts0 + 5)
        delta = await recv_json(ws)
        assert delta["data"] == {"temperature": [[ts2, "7"]]}


async def test_timeseries_time_window_snapshot_is_history(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    for i in range(5):
        reader.post_ts(device, {"t": i}, ts=1000 + i)
    async with ws_server.connect() as ws:
        cmd = ts_cmd(device, 4, keys="t", startTs=1001, timeWindow=3)
        await ws.send(auth(reader.token_for(), cmd))
        snapshot = await recv_json(ws)
        assert snapshot["data"] == {"t": [[1003, "3"], [1002, "2"], [1001, "1"]]}
        assert snapshot["latestValues"] == {"t": 1003}


async def test_attributes_scope_filter_and_deletion(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    ts_server = reader.post_attrs(device, "SERVER_SCOPE", {"active": True})
    reader.post_attrs(device, "CLIENT_SCOPE", {"fw": "1.0"})
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for(), attr_cmd(device, 11, scope="SERVER_SCOPE")))
        snapshot = await recv_json(ws)
        assert snapshot["data"] == {"active": [[ts_server, "true"]]}
        reader.post_attrs(device, "CLIENT_SCOPE", {"fw": "2.0"})
        ts2 = reader.post_attrs(device, "SERVER_SCOPE", {"lastActivityTime": 123})
        delta = await recv_json(ws)
        assert delta["data"] == {"lastActivityTime": [[ts2, "123"]]}
        reader.post_attrs(device, "SERVER_SCOPE", {}, deleted=("active",))
        deleted = await recv_json(ws)
        assert deleted["data"] == {"active": [[0, ""]]}


async def test_attributes_any_scope_with_keys(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    reader.post_attrs(device, "SHARED_SCOPE", {"target": 21.5, "ignored": 1})
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for(), attr_cmd(device, 1, keys="target,fw")))
        snapshot = await recv_json(ws)
        assert set(snapshot["data"]) == {"target"}
        ts = reader.post_attrs(device, "CLIENT_SCOPE", {"fw": "3", "junk": 0})
        delta = await recv_json(ws)
        assert delta["data"] == {"fw": [[ts, "3"]]}


async def test_history_cmd(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    for i in range(3):
        reader.post_ts(device, {"t": i * 1.5}, ts=2000 + i)
    async with ws_server.connect() as ws:
        history = {
            "type": "TIMESERIES_HISTORY",
            "entityType": "DEVICE",
            "entityId": device,
            "keys": "t",
            "startTs": 2000,
            "endTs": 2002,
            "cmdId": 5,
        }
        await ws.send(auth(reader.token_for(), history))
        update = await recv_json(ws)
        assert update["subscriptionId"] == 5
        assert update["data"] == {"t": [[2001, "1.5"], [2000, "0.0"]]}
        await ws.send(json.dumps({"cmds": [{**history, "keys": "", "cmdId": 6}]}))
        assert await recv_json(ws) == {
            "subscriptionId": 6,
            "errorCode": 2,
            "errorMsg": "Keys are empty!",
            "data": None,
            "latestValues": {},
        }


async def test_legacy_endpoint_with_query_token(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    ts0 = reader.post_ts(device, {"t": 1})
    reader.post_attrs(device, "CLIENT_SCOPE", {"fw": "1"})
    token = reader.token_for()
    async with ws_server.connect(f"/api/ws/plugins/telemetry?token={token}") as ws:
        target = {"entityType": "DEVICE", "entityId": device}
        message = {
            "tsSubCmds": [{**target, "scope": "LATEST_TELEMETRY", "cmdId": 7}],
            "attrSubCmds": [{**target, "scope": "CLIENT_SCOPE", "cmdId": 8}],
            "historyCmds": [],
        }
        await ws.send(json.dumps(message))
        updates = {u["subscriptionId"]: u for u in [await recv_json(ws), await recv_json(ws)]}
        assert updates[7]["data"] == {"t": [[ts0, "1"]]}
        assert set(updates[8]["data"]) == {"fw"}
        ts1 = reader.post_ts(device, {"t": 2}, ts=ts0 + 1)
        assert (await recv_json(ws))["data"] == {"t": [[ts1, "2"]]}


async def test_new_endpoint_accepts_query_token(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    async with ws_server.connect(f"/api/ws?token={reader.token_for()}") as ws:
        await ws.send(json.dumps({"cmds": [ts_cmd(device, 1)]}))
        assert (await recv_json(ws))["data"] == {}


# ----- unsubscribe and cleanup


async def test_unsubscribe_stops_updates_and_removes_listener(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for(), ts_cmd(device, 1), ts_cmd(device, 2)))
        await recv_json(ws)
        await recv_json(ws)
        assert reader.listener_count(device) == 2
        await ws.send(json.dumps({"cmds": [ts_cmd(device, 1, unsubscribe=True)]}))
        await wait_until(lambda: reader.listener_count(device) == 1)
        reader.post_ts(device, {"x": 1})
        update = await recv_json(ws)
        assert update["subscriptionId"] == 2
        # An unsubscribe without an entity id cancels everything.
        await ws.send(json.dumps({"cmds": [{"type": "TIMESERIES", "cmdId": 0, "unsubscribe": True}]}))
        await wait_until(lambda: reader.listener_count(device) == 0)


async def test_closing_the_socket_removes_listeners(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for(), ts_cmd(device, 1), attr_cmd(device, 2)))
        await recv_json(ws)
        await recv_json(ws)
        assert reader.listener_count(device) == 2
    await wait_until(lambda: reader.listener_count(device) == 0)
    reader.post_ts(device, {"after": 1})  # nobody left to notify; must not raise


async def test_reusing_a_cmd_id_replaces_the_subscription(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for(), ts_cmd(device, 1)))
        await recv_json(ws)
        await ws.send(json.dumps({"cmds": [ts_cmd(device, 1, keys="a")]}))
        await recv_json(ws)
        assert reader.listener_count(device) == 1


# ----- access control


async def test_customer_cannot_read_another_customers_device(ws_server: WsServer) -> None:
    reader = ws_server.reader
    mine = reader.add_device(customer_id=CUSTOMER_1)
    theirs = reader.add_device(customer_id=CUSTOMER_2)
    foreign_tenant = reader.add_device(tenant_id=TENANT_B)
    reader.post_ts(theirs, {"secret": 1})
    async with ws_server.connect() as ws:
        token = reader.token_for(customer_id=CUSTOMER_1)
        await ws.send(
            auth(token, ts_cmd(theirs, 1), attr_cmd(theirs, 2), ts_cmd(foreign_tenant, 3), ts_cmd(mine, 4))
        )
        updates = {u["subscriptionId"]: u for u in [await recv_json(ws) for _ in range(4)]}
        assert updates[1] == {
            "subscriptionId": 1,
            "errorCode": 1,
            "errorMsg": "Failed to fetch data!",
            "data": None,
            "latestValues": {},
        }
        assert updates[2]["errorMsg"] == "Failed to fetch attributes!"
        assert updates[3]["errorCode"] == 1
        assert updates[4]["errorCode"] == 0
        assert reader.listener_count(theirs) == 0
        reader.post_ts(theirs, {"secret": 2})
        reader.post_ts(mine, {"ok": 1})
        assert (await recv_json(ws))["subscriptionId"] == 4


# ----- authentication


async def test_first_message_without_auth_cmd_is_refused(ws_server: WsServer) -> None:
    async with ws_server.connect() as ws:
        await ws.send(json.dumps({"cmds": []}))
        assert await expect_close(ws) == (1008, "Auth cmd is missing")


async def test_bad_auth_cmd_token_closes_with_bad_data(ws_server: WsServer) -> None:
    async with ws_server.connect() as ws:
        await ws.send(auth("not-a-jwt"))
        assert await expect_close(ws) == (1007, "Invalid JWT token: ")


async def test_expired_token_in_query_closes_with_server_error(ws_server: WsServer) -> None:
    expired = jwt.encode({"sub": "x", "exp": int(time.time()) - 10}, "k" * 64, algorithm="HS512")
    async with ws_server.connect(f"/api/ws?token={expired}") as ws:
        assert await expect_close(ws) == (1011, "JWT Token expired")
    async with ws_server.connect(f"/api/ws/plugins/telemetry?token={expired}") as ws:
        assert await expect_close(ws) == (1011, "JWT Token expired")
    async with ws_server.connect("/api/ws?token=garbage") as ws:
        assert await expect_close(ws) == (1011, "Invalid JWT token: ")


async def test_legacy_endpoint_without_token_needs_auth(ws_server: WsServer) -> None:
    async with ws_server.connect("/api/ws/plugins/telemetry") as ws:
        await ws.send(json.dumps({"tsSubCmds": []}))
        assert await expect_close(ws) == (1008, "Auth cmd is missing")


async def test_unknown_plugin_path_is_refused(ws_server: WsServer) -> None:
    async with ws_server.connect("/api/ws/plugins/nope") as ws:
        assert await expect_close(ws) == (1007, "Unknown session type")


async def test_auth_timeout_closes_with_policy_violation() -> None:
    async for server in _serve(FakeReader(), auth_timeout_s=0.2):
        async with server.connect() as ws:
            code, _ = await expect_close(ws)
            assert code == 1008


# ----- malformed input


async def test_malformed_commands_get_error_updates_and_the_session_survives(ws_server: WsServer) -> None:
    reader = ws_server.reader
    device = reader.add_device()
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for()))
        unknown_type = '{"cmds":[{"type":"NOPE","cmdId":1}]}'
        for bad in ("{not json", "[1,2]", '{"cmds":{}}', unknown_type, '{"cmds":[1]}'):
            await ws.send(bad)
            assert await recv_json(ws) == {
                "subscriptionId": 1,
                "errorCode": 2,
                "errorMsg": "Failed to parse the payload",
                "data": None,
                "latestValues": {},
            }
        cases: list[tuple[dict[str, Any], int, str]] = [
            (ts_cmd(device, -1), 2, "Cmd id is negative value!"),
            (ts_cmd("", 2), 2, "Device id is empty!"),
            (ts_cmd("not-a-uuid", 3), 1, "Invalid UUID string: not-a-uuid"),
            ({**ts_cmd(device, 4), "entityType": "SPACESHIP"}, 1, "SPACESHIP"),
            (ts_cmd(device, 5, keys="t", timeWindow=10, agg="MEDIAN"), 1, "MEDIAN"),
            (attr_cmd(device, 6, scope="WRONG_SCOPE"), 1, "Failed to fetch attributes!"),
        ]
        for cmd, code, message in cases:
            await ws.send(json.dumps({"cmds": [cmd]}))
            update = await recv_json(ws)
            assert update["subscriptionId"] == cmd["cmdId"]
            assert update["errorCode"] == code
            assert message in update["errorMsg"]
        # Unknown-but-valid TB command types are ignored; the session still serves subscriptions.
        await ws.send(json.dumps({"cmds": [{"type": "ENTITY_DATA", "cmdId": 9}, ts_cmd(device, 10)]}))
        assert (await recv_json(ws))["subscriptionId"] == 10


async def test_unparseable_first_message_closes_with_bad_data(ws_server: WsServer) -> None:
    async with ws_server.connect() as ws:
        await ws.send("{oops")
        code, _ = await expect_close(ws)
        assert code == 1007


async def test_binary_and_oversized_frames_are_refused(ws_server: WsServer) -> None:
    reader = ws_server.reader
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for()))
        await ws.send(b"\x00\x01")
        code, _ = await expect_close(ws)
        assert code == 1003
    async with ws_server.connect() as ws:
        await ws.send(auth(reader.token_for()))
        await ws.send(json.dumps({"cmds": [], "pad": "x" * 40000}))
        code, _ = await expect_close(ws)
        assert code == 1009


# ----- slow consumers


async def test_slow_consumer_is_closed_once_its_queue_is_full() -> None:
    """A subscriber that stops reading is cut off at the queue bound instead of growing memory."""
    async for server in _serve(FakeReader(), max_queue=50):
        reader = server.reader
        device = reader.add_device()
        # No compression, so the blobs really fill the socket buffers.
        async with server.connect(max_queue=1, max_size=2**20, compression=None) as ws:
            await ws.send(auth(reader.token_for(), attr_cmd(device, 1)))
            await recv_json(ws)
            ws.transport.pause_reading()
            blob = "x" * 16384
            deadline = time.monotonic() + 20
            sent = 0
            while reader.listener_count(device) and time.monotonic() < deadline:
                reader.post_attrs(device, "CLIENT_SCOPE", {"blob": blob, "n": sent})
                sent += 1
                if sent % 20 == 0:
                    await asyncio.sleep(0)  # let the sender run so the transport genuinely backs up
            assert reader.listener_count(device) == 0, "the slow subscriber was never cut off"
            ws.transport.resume_reading()
            code, reason, received = await read_until_closed(ws, within=20)
            assert (code, reason) == (1008, "Max pending updates limit reached!")
            # What was still queued when the bound was hit is dropped, not delivered late.
            assert received < sent


async def test_one_frame_may_subscribe_to_more_entities_than_the_queue_holds() -> None:
    """Snapshots answering the client's own commands push back on it instead of closing the session."""
    async for server in _serve(FakeReader(), max_queue=20):
        reader = server.reader
        devices = [reader.add_device() for _ in range(100)]
        for device in devices:
            reader.post_ts(device, {"t": 1})
        async with server.connect() as ws:
            await ws.send(auth(reader.token_for(), *(ts_cmd(d, i) for i, d in enumerate(devices))))
            snapshots = [await recv_json(ws) for _ in devices]
            assert sorted(s["subscriptionId"] for s in snapshots) == list(range(100))
            assert all(s["errorCode"] == 0 and s["data"]["t"][0][1] == "1" for s in snapshots)
            reader.post_ts(devices[-1], {"t": 2})
            assert (await recv_json(ws))["subscriptionId"] == 99


# ----- unit level: value rendering and robustness


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42.5, "42.5"),
        (43.0, "43.0"),
        (0.001, "0.001"),
        (1234567.0, "1234567.0"),
        (12345678.9, "1.23456789E7"),
        (1e20, "1.0E20"),
        (-1.5e-5, "-1.5E-5"),
        (0.0, "0.0"),
        (73, "73"),
        (True, "true"),
        ("s", "s"),
        ({"a": [1, 2]}, '{"a":[1,2]}'),
        (None, None),
    ],
)
def test_values_render_like_tbs_get_value_as_string(value: Any, text: str | None) -> None:
    assert value_as_string(value) == text


async def test_random_garbage_never_breaks_a_session(caplog: pytest.LogCaptureFixture) -> None:
    """Junk frames get error updates (or nothing); no exception escapes and the session keeps working."""
    rng = random.Random(1234)
    reader = FakeReader()
    device = reader.add_device()
    token = reader.token_for()
    atoms: list[Any] = [None, True, -1, 0, 7, 2**70, 1.5, "", "x", "DEVICE", device, [], {}, "TIMESERIES"]
    fields = [
        "type",
        "cmdId",
        "entityType",
        "entityId",
        "keys",
        "scope",
        "unsubscribe",
        "startTs",
        "timeWindow",
        "limit",
        "agg",
        "interval",
        "endTs",
    ]

    def junk(depth: int = 0) -> Any:
        roll = rng.random()
        if depth > 2 or roll < 0.4:
            return rng.choice(atoms)
        if roll < 0.6:
            return [junk(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(fields): junk(depth + 1) for _ in range(rng.randint(0, 5))}

    sent: list[str] = []
    error_codes: set[int] = set()

    async def send(text: str) -> None:
        sent.append(text)

    async def close(code: int, reason: str) -> None:
        sent.append(f"close {code}")

    for _ in range(500):
        session = WsSession(reader, send, close)
        await session.handle_text(auth(token))
        cmd = junk()
        if isinstance(cmd, dict) and rng.random() < 0.7:
            cmd["type"] = rng.choice(["TIMESERIES", "ATTRIBUTES", "TIMESERIES_HISTORY", "ENTITY_DATA"])
            # Reach past validation often enough to exercise the entity and data paths too.
            if rng.random() < 0.6:
                cmd["entityType"] = "DEVICE"
            if rng.random() < 0.6:
                cmd["entityId"] = rng.choice([device, "x", device.upper(), 5])
        frame = json.dumps({"cmds": [cmd]} if rng.random() < 0.8 else cmd)
        await session.handle_text(frame)
        assert not session.close_requested  # authenticated sessions answer bad frames, never drop them
        # The session still works after whatever came before.
        await session.handle_text(json.dumps({"cmds": [ts_cmd(device, 999)]}))
        replies = [json.loads(text) for text in session._queue]
        assert (replies[-1]["subscriptionId"], replies[-1]["errorCode"]) == (999, 0)
        error_codes.update(reply["errorCode"] for reply in replies[:-1])
        session.cancel_all()
    assert reader.listener_count(device) == 0
    assert {1, 2} <= error_codes, "the junk never reached the error paths"
    # No frame reached the generic "unexpected failure" path.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
