"""Token expiry mid-stream, Server-Sent Events, device online/offline and pairing progress."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from petit.app import create_app
from petit.realtime.config import StreamLimits
from petit.realtime.events import publish_pairing_progress
from petit.runtime import runtime_of
from tests.integration.realtime.conftest import (
    authed_socket,
    close_code,
    give_device,
    login_again,
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


class ShiftableClock:
    """Real time plus an offset the test moves forward, so tokens can expire without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset.total_seconds()


@asynccontextmanager
async def petit(settings: Settings, clock: ShiftableClock | None = None, **limits: Any) -> AsyncIterator[Any]:
    app = create_app(settings, clock=clock, stream_limits=StreamLimits(recheck_interval_s=0.1, **limits))
    async with run_server(app) as server:
        yield server


async def test_an_expired_token_warns_and_a_new_one_continues(
    tb_settings: Settings, emulator: Emulator
) -> None:
    clock = ShiftableClock()
    async with petit(tb_settings, clock) as server:
        account = await new_account(server)
        _, device_token = await give_device(server, account)
        async with authed_socket(server, account.access) as ws:
            clock.offset = timedelta(seconds=tb_settings.auth.access_token_ttl_s + 5)
            warning = await recv_until(ws, "warning", within=2)
            assert "expired" in warning["message"].lower()
            clock.offset = timedelta()
            fresh = await login_again(server, account)
            await ws.send(json.dumps({"type": "authenticate", "token": fresh}))
            assert await recv_until(ws, "authenticated") == {
                "type": "authenticated",
                "message": "Authentication successful.",
            }
            device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}")
            device.username_pw_set(device_token)
            await asyncio.to_thread(device.connect, "127.0.0.1", emulator.mqtt_port, 30)
            device.loop_start()
            try:
                deadline = time.monotonic() + 5
                while runtime_of(server.app).hub.upstream_subscriptions != 1:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)
                info = device.publish("v1/devices/me/telemetry", json.dumps({"t": 7}), qos=1)
                await asyncio.to_thread(info.wait_for_publish, 5)
                data = await recv_until(ws, "deviceData")
                assert data["data"]["readings"]["t"]["value"] == 7
            finally:
                device.disconnect()
                device.loop_stop()


async def test_a_token_of_another_account_cannot_take_over_a_socket(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        alice, bob = await new_account(server, "alice"), await new_account(server, "bob")
        async with authed_socket(server, alice.access) as ws:
            await ws.send(json.dumps({"type": "authenticate", "token": bob.access}))
            assert await recv_json(ws) == {"type": "error", "message": "Invalid or expired token."}
            assert await close_code(ws) == 1008


async def test_expired_socket_is_closed_after_the_grace(tb_settings: Settings) -> None:
    clock = ShiftableClock()
    async with petit(tb_settings, clock, reauth_grace_s=0.3) as server:
        account = await new_account(server)
        async with authed_socket(server, account.access) as ws:
            clock.offset = timedelta(seconds=tb_settings.auth.access_token_ttl_s + 5)
            await recv_until(ws, "warning", within=2)
            assert await close_code(ws, within=3) == 4001


async def _sse_lines(lines: AsyncIterator[str], want: int, within: float = 15.0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with asyncio.timeout(within):
        async for line in lines:
            if not line:
                if "data" in current:
                    events.append(current)
                    if len(events) >= want:
                        return events
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = value.strip()
    return events


async def test_server_sent_events_carry_the_same_data(tb_settings: Settings, emulator: Emulator) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        device_id, device_token = await give_device(server, account)
        headers = {"Authorization": f"Bearer {account.access}"}
        async with (
            httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
            client.stream("GET", "/devices/stream", headers=headers) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            first = await _sse_lines(lines, 1)
            assert json.loads(first[0]["data"])["type"] == "authenticated"
            device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}")
            device.username_pw_set(device_token)
            await asyncio.to_thread(device.connect, "127.0.0.1", emulator.mqtt_port, 30)
            device.loop_start()
            try:
                deadline = time.monotonic() + 5
                while runtime_of(server.app).hub.upstream_subscriptions != 1:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)
                info = device.publish("v1/devices/me/telemetry", json.dumps({"watts": 12.5}), qos=1)
                await asyncio.to_thread(info.wait_for_publish, 5)
                events: list[dict[str, Any]] = []
                while not {"deviceData", "deviceStatus"} <= {e.get("event") for e in events}:
                    events += await _sse_lines(lines, 1)
            finally:
                device.disconnect()
                device.loop_stop()
            data = [e for e in events if e.get("event") == "deviceData"]
            assert data, events
            message = json.loads(data[0]["data"])
            assert message["data"]["deviceId"] == str(device_id)
            assert message["data"]["readings"]["watts"]["value"] == 12.5
            assert data[0]["id"] == str(message["seq"])
            # The device connected: an online event on the same stream.
            status = [json.loads(e["data"]) for e in events if e.get("event") == "deviceStatus"]
            assert status
            assert status[0]["data"] == {
                "deviceId": str(device_id),
                "online": True,
                "ts": status[0]["data"]["ts"],
            }


async def test_server_sent_events_need_a_valid_bearer(tb_settings: Settings) -> None:
    async with (
        petit(tb_settings) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
    ):
        response = await client.get("/devices/stream", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_online_offline_and_pairing_progress_on_the_socket(
    tb_settings: Settings, emulator: Emulator
) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        device_id, device_token = await give_device(server, account)
        async with authed_socket(server, account.access) as ws:
            deadline = time.monotonic() + 5
            while runtime_of(server.app).hub.upstream_subscriptions != 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}")
            device.username_pw_set(device_token)
            await asyncio.to_thread(device.connect, "127.0.0.1", emulator.mqtt_port, 30)
            device.loop_start()
            online = await recv_until(ws, "deviceStatus")
            assert online["data"]["online"] is True
            assert online["data"]["deviceId"] == str(device_id)
            device.disconnect()
            device.loop_stop()
            offline = await recv_until(ws, "deviceStatus")
            assert offline["data"]["online"] is False
            await publish_pairing_progress(
                runtime_of(server.app).hub,
                account.user_id,
                pairing_id="p-1",
                stage="claimed",
                device_id=device_id,
            )
            progress = await recv_until(ws, "pairingProgress")
            assert progress["data"] == {"pairingId": "p-1", "stage": "claimed", "deviceId": str(device_id)}


async def test_server_sent_events_resume_from_last_event_id(tb_settings: Settings) -> None:
    async with petit(tb_settings) as server:
        account = await new_account(server)
        device_id, _ = await give_device(server, account)
        hub = runtime_of(server.app).hub
        headers = {"Authorization": f"Bearer {account.access}"}
        for n in range(3):
            message = {
                "type": "deviceData",
                "data": {"deviceId": str(device_id), "readings": {"n": {"ts": n, "value": n}}},
            }
            await hub.publish_device_event(device_id, message)
        async with (
            httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
            client.stream("GET", "/devices/stream", headers=headers, params={"lastSeq": 0}) as everything,
        ):
            lines = everything.aiter_lines()
            events = await _sse_lines(lines, 4)
            seqs = [int(e["id"]) for e in events if e.get("event") == "deviceData"]
            assert len(seqs) == 3
        resume_headers = {**headers, "Last-Event-ID": str(seqs[0])}
        async with (
            httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
            client.stream("GET", "/devices/stream", headers=resume_headers) as resumed,
        ):
            events = await _sse_lines(resumed.aiter_lines(), 3)
            values = [json.loads(e["data"])["data"]["readings"]["n"]["value"] for e in events if e.get("id")]
            assert values == [1, 2]
