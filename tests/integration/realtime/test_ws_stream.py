"""/ws end to end: a real petit (uvicorn), the ThingsBoard emulator, MQTT devices, real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from petit.app import create_app
from petit.realtime.config import StreamLimits
from petit.runtime import runtime_of
from tests.integration.realtime.conftest import (
    authed_socket,
    close_code,
    collect,
    give_device,
    logout,
    new_account,
    recv_json,
    recv_until,
    run_server,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

FAST = StreamLimits(recheck_interval_s=0.2, auth_timeout_s=1.0, max_streams_per_user=3)


@asynccontextmanager
async def petit(settings: Settings, limits: StreamLimits = FAST) -> AsyncIterator[Any]:
    app = create_app(settings, stream_limits=limits)
    async with run_server(app) as server:
        yield server


class Device:
    """An MQTT device publishing telemetry to the emulator with its access token."""

    def __init__(self, port: int, token: str) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{token}")
        self._client.username_pw_set(token)
        self._port = port

    async def __aenter__(self) -> Device:
        await asyncio.to_thread(self._client.connect, "127.0.0.1", self._port, 30)
        self._client.loop_start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    async def publish(self, values: dict[str, Any]) -> None:
        info = self._client.publish("v1/devices/me/telemetry", json.dumps(values), qos=1)
        await asyncio.to_thread(info.wait_for_publish, 5)


async def wait_upstream(server: Any, count: int, within: float = 15.0) -> None:
    """Until the hub holds ``count`` ThingsBoard subscriptions and ThingsBoard has answered each."""
    hub = runtime_of(server.app).hub
    deadline = time.monotonic() + within
    while hub.upstream_subscriptions != count or hub._stream.answered != count:
        assert time.monotonic() < deadline, "ThingsBoard subscription not established"
        await asyncio.sleep(0.02)


async def settled_count(read: Any, quiet_s: float = 0.3, within: float = 10.0) -> int:
    """``read()`` once it has not changed for ``quiet_s`` (warm-up publishes still in flight have landed)."""
    deadline = time.monotonic() + within
    value = read()
    while True:
        await asyncio.sleep(quiet_s)
        again = read()
        if again == value:
            return int(value)
        assert time.monotonic() < deadline, "the count never settled"
        value = again


async def first_frame(ws: Any, device: Any, values: dict[str, Any], within: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        assert time.monotonic() < deadline, "no deviceData reached the socket"
        await device.publish(values)
        frames = [m for m in await collect(ws, 0.5) if m.get("type") == "deviceData"]
        if frames:
            return frames[0]


async def _until_value(ws: Any, value: int) -> list[dict[str, Any]]:
    seen = [await recv_until(ws, "deviceData")]
    while seen[-1]["data"]["readings"]["n"]["value"] != value:
        seen.append(await recv_until(ws, "deviceData"))
    return seen


async def test_protocol_messages_before_and_after_authenticating(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        async with connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe"}))
            assert await recv_json(ws) == {"type": "error", "message": "Please authenticate first."}
            await ws.send(json.dumps({"type": "authenticate", "token": account.access}))
            assert await recv_json(ws) == {"type": "authenticated", "message": "Authentication successful."}
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv_json(ws) == {"type": "pong"}
            await ws.send(json.dumps({"type": "nonsense"}))
            assert await recv_json(ws) == {"type": "error", "message": "Unknown message type."}


async def test_compression_offered_by_the_client_is_declined(tb_settings: Settings) -> None:
    # Per-socket zlib state would cost more memory than the rest of the connection (PETIT_SERVER__*).
    async with petit(tb_settings) as server:
        account = await new_account(server)
        async with connect(server.ws_url, compression="deflate") as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert ws.protocol.extensions == []
            await ws.send(json.dumps({"type": "authenticate", "token": account.access}))
            assert await recv_json(ws) == {"type": "authenticated", "message": "Authentication successful."}


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "", "refresh"],
    ids=["garbage", "empty", "refresh-token"],
)
async def test_bad_tokens_get_an_error_and_a_close(tb_settings: Settings, token: str) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        async with connect(server.ws_url) as ws:
            sent = account.refresh if token == "refresh" else token
            await ws.send(json.dumps({"type": "authenticate", "token": sent}))
            assert await recv_json(ws) == {"type": "error", "message": "Invalid or expired token."}
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008


async def test_a_thingsboard_token_is_refused(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        owner = await server.thingsboard.ensure_owner(account.email)
        tb_token = (await server.thingsboard.stream_access(owner.account_id)).token
        async with connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "authenticate", "token": tb_token}))
            assert await recv_json(ws) == {"type": "error", "message": "Invalid or expired token."}


async def test_bad_frames_close_with_clear_codes(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        async with authed_socket(server, account.access) as ws:
            await ws.send("{not json")
            assert await recv_json(ws) == {"type": "error", "message": "Message is not JSON."}
            await ws.send("[1, 2]")
            assert await recv_json(ws) == {"type": "error", "message": "Message must be a JSON object."}
            # Deep enough to exhaust json.loads' recursion, small enough to pass the size limit.
            await ws.send("[" * 1500 + "]" * 1500)
            assert await recv_json(ws) == {
                "type": "error",
                "message": "The JSON document is nested too deeply",
            }
            await ws.send(json.dumps({"type": "ping", "note": "a\u0000b"}))
            assert (await recv_json(ws))["type"] == "error"
            await ws.send(b"\x00\x01")
            assert await recv_json(ws) == {"type": "error", "message": "Binary frames are not supported."}
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1003
        async with authed_socket(server, account.access) as ws:
            await ws.send("x" * 10_000)
            assert await recv_json(ws) == {"type": "error", "message": "Message too large."}
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009


async def test_a_flood_is_cut_off(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        async with authed_socket(server, account.access) as ws:
            with contextlib.suppress(ConnectionClosed):
                for _ in range(200):
                    await ws.send(json.dumps({"type": "ping"}))
            assert await close_code(ws) == 1008


async def test_authentication_deadline(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server, connect(server.ws_url) as ws:
        started = time.monotonic()
        assert await recv_json(ws, within=5) == {"type": "error", "message": "Authentication timed out."}
        with pytest.raises(ConnectionClosed):
            await recv_json(ws)
        assert 0.8 < time.monotonic() - started < 4


async def test_sockets_per_user_are_capped(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        async with (
            authed_socket(server, account.access),
            authed_socket(server, account.access),
            authed_socket(server, account.access),
            connect(server.ws_url) as fourth,
        ):
            await fourth.send(json.dumps({"type": "authenticate", "token": account.access}))
            assert await recv_json(fourth) == {
                "type": "error",
                "message": "Too many open streams for this account.",
            }
            assert await close_code(fourth) == 1013


async def test_device_data_is_pushed_to_its_owner_only(tb_settings: Settings, emulator: Emulator) -> None:
    async with petit(tb_settings) as server:
        alice, bob = await new_account(server, "alice"), await new_account(server, "bob")
        alice_device, alice_token = await give_device(server, alice)
        bob_device, bob_token = await give_device(server, bob)
        async with (
            authed_socket(server, alice.access) as alice_ws,
            authed_socket(server, bob.access) as bob_ws,
            Device(emulator.mqtt_port, alice_token) as alice_dev,
            Device(emulator.mqtt_port, bob_token) as bob_dev,
        ):
            await wait_upstream(server, 2)
            # Published until the first frame arrives: a reading sent while ThingsBoard is still wiring the
            # subscription can be missed (a start-of-watch race seen under load); this test is about routing.
            got = await first_frame(alice_ws, alice_dev, {"temperature": 21.5, "mode": "eco", "count": 3})
            assert got["data"]["deviceId"] == str(alice_device)
            readings = got["data"]["readings"]
            assert readings["temperature"]["value"] == 21.5
            assert readings["count"]["value"] == 3
            assert readings["mode"]["value"] == "eco"
            assert isinstance(got["seq"], int)
            bobs = await first_frame(bob_ws, bob_dev, {"temperature": 99})
            assert bobs["data"]["deviceId"] == str(bob_device)
            assert bobs["data"]["readings"]["temperature"]["value"] == 99
            # Neither ever sees the other's device.
            await alice_dev.publish({"temperature": 22})
            following = await recv_until(alice_ws, "deviceData")
            assert following["data"]["deviceId"] == str(alice_device)
            later = await collect(bob_ws, 0.5)
            assert all(m.get("data", {}).get("deviceId") != str(alice_device) for m in later)


async def test_one_upstream_subscription_per_device_whatever_the_watchers(
    tb_settings: Settings, emulator: Emulator
) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        device_id, token = await give_device(server, account)
        hub = runtime_of(server.app).hub
        async with authed_socket(server, account.access) as one, authed_socket(server, account.access) as two:
            await wait_upstream(server, 1)
            async with Device(emulator.mqtt_port, token) as dev:
                # A reading published while the upstream subscription is still being set up can be missed
                # (a known start-of-watch race); publishing until one arrives keeps this test about fan-out.
                deadline = time.monotonic() + 15
                frames: list[dict[str, Any]] = []
                while not frames:
                    assert time.monotonic() < deadline, "no deviceData reached the first socket"
                    await dev.publish({"power": 5})
                    frames = [m for m in await collect(one, 0.5) if m["type"] == "deviceData"]
                second = await recv_until(two, "deviceData")
                assert frames[0] == second
        deadline = time.monotonic() + 2
        while hub.upstream_subscriptions:
            assert time.monotonic() < deadline, "the last watcher left but the subscription stayed"
            await asyncio.sleep(0.02)
        assert device_id not in hub._watchers


async def test_chosen_devices_and_keys(tb_settings: Settings, emulator: Emulator) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        first_id, first_token = await give_device(server, account)
        _, second_token = await give_device(server, account)
        async with (
            authed_socket(server, account.access, devices=[str(first_id)], keys=["power"]) as ws,
            Device(emulator.mqtt_port, first_token) as first,
            Device(emulator.mqtt_port, second_token) as second,
        ):
            await wait_upstream(server, 1)
            await second.publish({"power": 1})
            got = await first_frame(ws, first, {"power": 2, "noise": 3})
            assert got["data"]["deviceId"] == str(first_id)
            assert set(got["data"]["readings"]) == {"power"}
            await ws.send(json.dumps({"type": "subscribe"}))
            subscribed = await recv_until(ws, "subscribed")
            assert len(subscribed["devices"]) == 2
            assert subscribed["keys"] is None


async def test_logout_closes_the_stream_within_a_second(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        async with authed_socket(server, account.access) as ws:
            await logout(server, account.access)
            started = time.monotonic()
            assert await recv_json(ws, within=2) == {"type": "error", "message": "Session revoked."}
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws, within=2)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4001
            assert time.monotonic() - started < 1.0


async def test_a_lost_device_is_trimmed_from_the_stream(tb_settings: Settings, emulator: Emulator) -> None:
    from petit.realtime.events import publish_device_revoked  # noqa: PLC0415 - the API other features call

    async with petit(tb_settings) as server:
        account = await new_account(server)
        device_id, token = await give_device(server, account)
        hub = runtime_of(server.app).hub
        async with authed_socket(server, account.access) as ws, Device(emulator.mqtt_port, token) as dev:
            await wait_upstream(server, 1)
            await publish_device_revoked(hub, account.user_id, device_id)
            revoked = await recv_until(ws, "deviceRevoked", within=1.0)
            assert revoked["data"]["deviceId"] == str(device_id)
            await dev.publish({"power": 1})
            assert [m for m in await collect(ws, 0.5) if m["type"] == "deviceData"] == []


async def test_resume_after_reconnect(tb_settings: Settings, emulator: Emulator) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        _, token = await give_device(server, account)
        async with authed_socket(server, account.access) as keeper, Device(emulator.mqtt_port, token) as dev:
            async with authed_socket(server, account.access) as ws:
                await wait_upstream(server, 1)
                await dev.publish({"n": 1})
                last = (await recv_until(ws, "deviceData"))["seq"]
            # Missed while away; another socket keeps the subscription, as another phone would.
            await dev.publish({"n": 2})
            await dev.publish({"n": 3})
            # The keeper may see 2 and 3 coalesced into one frame: wait for the latest.
            while (await recv_until(keeper, "deviceData"))["data"]["readings"]["n"]["value"] != 3:
                pass
            async with authed_socket(server, account.access, lastSeq=last) as ws:
                replayed = [await recv_until(ws, "deviceData") for _ in range(2)]
                assert [m["data"]["readings"]["n"]["value"] for m in replayed] == [2, 3]
                assert all(m["seq"] > last for m in replayed)


async def test_two_instances_share_streams_through_redis(tb_settings: Settings, emulator: Emulator) -> None:
    async with petit(tb_settings) as one, petit(tb_settings) as two:
        account = await new_account(one)
        _, token = await give_device(one, account)
        async with (
            authed_socket(one, account.access) as on_one,
            authed_socket(two, account.access) as on_two,
            Device(emulator.mqtt_port, token) as dev,
        ):
            await wait_upstream(one, 1)
            await wait_upstream(two, 1)
            # The device's connect event may still be in flight; let it land before counting.
            await recv_until(on_one, "deviceStatus")
            await recv_until(on_two, "deviceStatus")
            # Warm up past the start-of-watch race (a reading sent while the watch is still being wired can be
            # missed under load): counting starts once a reading has reached both sockets.
            await first_frame(on_one, dev, {"n": -1})
            await _until_value(on_two, -1)
            before = await settled_count(
                lambda: runtime_of(one.app).hub.published + runtime_of(two.app).hub.published
            )
            for n in range(3):
                await dev.publish({"n": n})
            seen_one = await _until_value(on_one, 2)
            seen_two = await _until_value(on_two, 2)
            # A slow reader may get updates coalesced, but a sequence number means the same event everywhere.
            assert seen_one[-1] == seen_two[-1]
            by_seq = {m["seq"]: m for m in seen_one}
            assert all(by_seq.get(m["seq"], m) == m for m in seen_two)
            # Both processes got every update from ThingsBoard; the journal let exactly one publish each.
            after = runtime_of(one.app).hub.published + runtime_of(two.app).hub.published
            assert after - before == 3


async def test_devices_created_through_petit_stream_under_petit_ids(
    tb_settings: Settings, emulator: Emulator
) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        headers = {"Authorization": f"Bearer {account.access}", "Idempotency-Key": uuid.uuid4().hex}
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
            created = await client.post("/devices", json={"name": "kitchen"}, headers=headers)
            assert created.status_code == 201, created.text
            device_id = created.json()["id"]
            credentials = await client.get(f"/devices/{device_id}/credentials", headers=headers)
            assert credentials.status_code == 200, credentials.text
            token = credentials.json()["accessToken"]
        async with (
            authed_socket(server, account.access, devices=[device_id]) as ws,
            Device(emulator.mqtt_port, token) as dev,
        ):
            await wait_upstream(server, 1)
            await dev.publish({"power": 9})
            got = await recv_until(ws, "deviceData")
            assert got["data"]["deviceId"] == device_id
            await ws.send(json.dumps({"type": "subscribe"}))
            assert (await recv_until(ws, "subscribed"))["devices"] == [device_id]
