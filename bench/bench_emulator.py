"""Telemetry throughput of the emulator: N MQTT devices publishing while a WebSocket client watches.

The emulator runs in its own process (``Emulator`` started by this script) so that it has a core to itself;
this process creates the devices over REST, subscribes to every device's latest telemetry on ``/api/ws``,
then drives N raw MQTT connections that publish QoS 1 telemetry as fast as the server acknowledges (a
bounded window per device). It reports acknowledged messages per second and whether the subscriber saw
every value.

    uv run python bench/bench_emulator.py                     # 100 devices x 500 messages
    uv run python bench/bench_emulator.py --devices 100 --messages 1000 --window 32
    uv run python bench/bench_emulator.py --transport-only    # MQTT transport over a do-nothing core, no WS

Loopback only; every loop is bounded by a message count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from thingsboard_emulator.mqtt import codec

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            writer.close()
            return


# -- load generator ------------------------------------------------------------------------------------------


@dataclass
class Stats:
    sent: int = 0
    acked: int = 0
    first_send: float = 0.0
    last_ack: float = 0.0
    errors: list[str] = field(default_factory=list)


class Device(asyncio.Protocol):
    """One raw MQTT 3.1.1 connection publishing QoS 1 telemetry with at most ``window`` messages in flight."""

    def __init__(self, token: str, total: int, window: int, stats: Stats, done: asyncio.Future[None]) -> None:
        self.token, self.total, self.window, self.stats, self.done = token, total, window, stats, done
        self.reader = codec.PacketReader()
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.next_seq = 0
        self.acked = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(codec.encode_connect(f"bench-{self.token}", username=self.token, keepalive=120))

    def data_received(self, data: bytes) -> None:
        for ptype, _, body in self.reader.feed(data):
            if ptype == codec.CONNACK:
                if body[1] != 0:
                    self.connected.set_exception(RuntimeError(f"CONNACK {body[1]}"))
                else:
                    self.connected.set_result(None)
            elif ptype == codec.PUBACK:
                self.acked += 1
                self.stats.acked += 1
                self.stats.last_ack = time.perf_counter()
                if self.acked == self.total and not self.done.done():
                    self.done.set_result(None)
                self._send(1)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.stats.errors.append(f"{self.token}: connection lost after {self.acked} acks ({exc})")
            self.done.set_result(None)

    def start(self) -> None:
        self._send(self.window)

    def _send(self, count: int) -> None:
        assert self.transport is not None
        chunks = []
        while count and self.next_seq < self.total:
            seq = self.next_seq
            self.next_seq += 1
            payload = b'{"seq":%d,"temperature":%d.5}' % (seq, seq % 40)
            chunks.append(
                codec.encode_publish("v1/devices/me/telemetry", payload, qos=1, packet_id=seq % 65535 + 1)
            )
            count -= 1
        if chunks:
            self.stats.sent += len(chunks)
            self.transport.write(b"".join(chunks))


async def run_load(port: int, tokens: list[str], messages: int, window: int, limit_s: float) -> Stats:
    loop = asyncio.get_running_loop()
    stats = Stats()
    devices: list[Device] = []
    for token in tokens:
        done: asyncio.Future[None] = loop.create_future()
        _, device = await loop.create_connection(
            lambda t=token, d=done: Device(t, messages, window, stats, d), HOST, port
        )
        devices.append(device)
    await asyncio.wait_for(asyncio.gather(*(d.connected for d in devices)), 30)
    stats.first_send = time.perf_counter()
    for device in devices:
        device.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(d.done for d in devices)), limit_s)
    except TimeoutError:
        stats.errors.append(f"time limit of {limit_s} s reached")
    for device in devices:
        if device.transport is not None:
            device.transport.write(codec.DISCONNECT_V3_PACKET)
            device.transport.close()
    return stats


# -- WebSocket subscriber ------------------------------------------------------------------------------------


class Subscriber:
    """Counts the distinct ``seq`` values the WebSocket delivers per device."""

    def __init__(self, ws_url: str, jwt: str, device_ids: list[str]) -> None:
        self.ws_url, self.jwt, self.device_ids = ws_url, jwt, device_ids
        self.seen: dict[int, set[str]] = {}
        self.snapshots: set[int] = set()
        self.updates = 0
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), 30)

    async def _run(self) -> None:
        async with websockets.connect(self.ws_url + "/api/ws", max_size=None) as ws:
            cmds = [
                {
                    "type": "TIMESERIES",
                    "entityType": "DEVICE",
                    "entityId": device_id,
                    "scope": "LATEST_TELEMETRY",
                    "keys": "seq",
                    "cmdId": index + 1,
                }
                for index, device_id in enumerate(self.device_ids)
            ]
            await ws.send(json.dumps({"authCmd": {"cmdId": 0, "token": self.jwt}, "cmds": cmds}))
            async for raw in ws:
                self._on_message(json.loads(raw))

    def _on_message(self, update: dict[str, Any]) -> None:
        sub_id = update.get("subscriptionId")
        if not isinstance(sub_id, int) or sub_id == 0:
            return
        if sub_id not in self.snapshots:
            self.snapshots.add(sub_id)
            if len(self.snapshots) == len(self.device_ids):
                self.ready.set()
        self.updates += 1
        for ts_value in (update.get("data") or {}).get("seq", []):
            if ts_value[1] is not None:
                self.seen.setdefault(sub_id, set()).add(ts_value[1])

    def received(self) -> int:
        return sum(len(values) for values in self.seen.values())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


# -- set-up --------------------------------------------------------------------------------------------------


async def create_devices(http_url: str, count: int) -> tuple[str, list[str], list[str]]:
    async with httpx.AsyncClient(base_url=http_url, timeout=30) as http:
        login = await http.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        login.raise_for_status()
        jwt = login.json()["token"]
        headers = {"X-Authorization": f"Bearer {jwt}"}
        run = uuid.uuid4().hex[:8]
        tokens, ids = [], []
        for index in range(count):
            token = f"bench{run}{index:04d}"
            response = await http.post(
                "/api/device",
                params={"accessToken": token},
                json={"name": f"bench-{run}-{index}", "type": "default"},
                headers=headers,
            )
            response.raise_for_status()
            tokens.append(token)
            ids.append(response.json()["id"]["id"])
        return jwt, tokens, ids


def start_emulator(http_port: int, mqtt_port: int) -> subprocess.Popen[bytes]:
    # The emulator's public Python API in a child process: the same server the CLI runs.
    return subprocess.Popen(
        [sys.executable, __file__, "--serve-emulator", f"{http_port}:{mqtt_port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def start_transport_only(mqtt_port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--serve-transport", str(mqtt_port)], cwd=ROOT, env={**os.environ}
    )


class NullCore:
    """A core that accepts every token and drops every message: the transport's own ceiling."""

    def __getattr__(self, name: str) -> Any:
        from thingsboard_emulator.contracts import DeviceRef, SessionHandle  # noqa: PLC0415 - serve mode only

        if name == "authenticate":
            return lambda token: DeviceRef(token, token, "t", "p")
        if name == "open_session":
            return lambda device, session: SessionHandle(device.device_id, device)
        return lambda *args, **kwargs: None


async def serve_emulator(ports: str) -> None:
    from thingsboard_emulator import Emulator  # noqa: PLC0415 - serve mode only

    http_port, mqtt_port = (int(part) for part in ports.split(":"))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Emulator(HOST, http_port, mqtt_port):
        await asyncio.wait_for(stop.wait(), 3600)


def serve_emulator_profiled(ports: str, profile_path: str | None) -> None:
    """Serve until SIGTERM; with ``BENCH_PROFILE=file`` the server's CPU profile is written there."""
    if not profile_path:
        asyncio.run(serve_emulator(ports))
        return
    import cProfile  # noqa: PLC0415 - profiling only

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(serve_emulator(ports))
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


async def serve_transport(port: int) -> None:
    from thingsboard_emulator.mqtt import MqttServer  # noqa: PLC0415 - serve mode only

    server = MqttServer(NullCore(), HOST, port)  # type: ignore[arg-type]
    await server.start()
    await asyncio.sleep(3600)


async def main(args: argparse.Namespace) -> int:
    mqtt_port = free_port()
    deadline = time.monotonic() + 30
    subscriber: Subscriber | None = None
    if args.transport_only:
        proc = start_transport_only(mqtt_port)
        tokens = [f"null{index}" for index in range(args.devices)]
    else:
        http_port = free_port()
        proc = start_emulator(http_port, mqtt_port)
    try:
        await wait_for_port(mqtt_port, deadline)
        if not args.transport_only:
            await wait_for_port(http_port, deadline)
            jwt, tokens, ids = await create_devices(f"http://{HOST}:{http_port}", args.devices)
            subscriber = Subscriber(f"ws://{HOST}:{http_port}", jwt, ids)
            await subscriber.start()
        stats = await run_load(mqtt_port, tokens, args.messages, args.window, args.limit)
        expected = args.devices * args.messages
        elapsed = max(stats.last_ack - stats.first_send, 1e-9)
        rate = stats.acked / elapsed
        print(f"devices={args.devices} messages/device={args.messages} window={args.window}")
        print(f"acknowledged {stats.acked}/{expected} in {elapsed:.2f} s -> {rate:,.0f} msg/s")
        if subscriber is not None:
            drain_deadline = time.monotonic() + args.drain
            while subscriber.received() < stats.acked and time.monotonic() < drain_deadline:  # noqa: ASYNC110 - bounded poll
                await asyncio.sleep(0.05)
            got = subscriber.received()
            print(
                f"websocket subscriber: {got}/{stats.acked} values ({subscriber.updates} updates)"
                f" -> {'ALL RECEIVED' if got == stats.acked else 'MISSING ' + str(stats.acked - got)}"
            )
        for error in stats.errors[:5]:
            print("error:", error)
        ok = stats.acked == expected and (subscriber is None or subscriber.received() == stats.acked)
        return 0 if ok else 1
    finally:
        if subscriber is not None:
            await subscriber.stop()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=500, help="messages per device")
    parser.add_argument("--window", type=int, default=16, help="unacknowledged messages per device")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds before the load stops regardless")
    parser.add_argument(
        "--drain", type=float, default=15.0, help="seconds to wait for the subscriber to catch up"
    )
    parser.add_argument("--transport-only", action="store_true", help="MQTT transport over a do-nothing core")
    parser.add_argument("--serve-transport", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-emulator", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_transport:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_transport(arguments.serve_transport))
        sys.exit(0)
    if arguments.serve_emulator:
        serve_emulator_profiled(arguments.serve_emulator, os.environ.get("BENCH_PROFILE"))
        sys.exit(0)
    sys.exit(asyncio.run(main(arguments)))
