"""Streaming to apps, three ways side by side in one run: petit's push, polling, per-client TB sockets.

Processes: the ThingsBoard emulator, one petit (uvicorn, SQLite, Redis) and this driver. Devices publish over
raw MQTT once a second with their publish time in the payload; clients record publish -> receipt latency.

1. ``push``: every client holds a petit ``/ws`` socket (petit holds one ThingsBoard subscription per device).
2. ``poll``: every client polls the device's latest telemetry once a second (seed 003's way; straight at
   ThingsBoard's REST API, which flatters polling: no petit hop).
3. ``tbws``: every client holds its own ThingsBoard WebSocket with its own subscription.

    uv run python bench/bench_streaming.py                              # 1000 clients, 100 devices, 20 s each
    uv run python bench/bench_streaming.py --clients 200 --devices 20 --seconds 10

Loopback only; every phase is bounded by its duration and deadlines.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import gc
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from thingsboard_emulator.mqtt import codec

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("PETIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TB_USER, TB_PASSWORD = "tenant@thingsboard.org", "tenant"
CLIENTS_PER_USER = 10
#: After the memory reading's forced collection, before the latency window opens.
SETTLE_S = 6.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
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


def proc_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


# -- devices ---------------------------------------------------------------------------------------------


class MqttDevice(asyncio.Protocol):
    """A raw MQTT 3.1.1 connection publishing QoS 0 telemetry stamped with the send time."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.reader = codec.PacketReader()
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.seq = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(codec.encode_connect(f"bench-{self.token}", username=self.token, keepalive=120))

    def data_received(self, data: bytes) -> None:
        for ptype, _, body in self.reader.feed(data):
            if ptype == codec.CONNACK and not self.connected.done():
                self.connected.set_result(None) if body[1] == 0 else self.connected.set_exception(
                    RuntimeError(f"CONNACK {body[1]}")
                )

    def publish(self) -> None:
        assert self.transport is not None
        self.seq += 1
        payload = json.dumps({"sentMs": time.time() * 1000, "n": self.seq, "power": self.seq % 40}).encode()
        self.transport.write(codec.encode_publish("v1/devices/me/telemetry", payload, qos=0, packet_id=0))


async def publish_loop(devices: list[MqttDevice], seconds: float) -> int:
    """Every device once a second, spread evenly over the second; returns messages sent."""
    sent = 0
    start = time.monotonic()
    gap = 1.0 / max(1, len(devices))
    tick = 0
    while time.monotonic() - start < seconds:
        for i, device in enumerate(devices):
            target = start + tick + i * gap
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            device.publish()
            sent += 1
        tick += 1
    return sent


# -- measurements ----------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    connected: int = 0
    published: int = 0
    tb_subscriptions: int = 0
    server_cpu_s: dict[str, float] = field(default_factory=dict)
    server_rss_delta: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    #: petit's collector passes and event-loop lag while this phase published (see serve_petit).
    petit_loop: dict[str, float] = field(default_factory=dict)
    tracked_per_conn: float = 0.0
    #: When deliveries slower than 100 ms arrived (epoch ms): a tail spread out, or one stall.
    slow_at: list[float] = field(default_factory=list)
    #: Publishes stamped before this (earlier phases, snapshots) are not deliveries of this phase.
    start_ms: float = float("inf")

    def record(self, sent_ms: float) -> None:
        if sent_ms >= self.start_ms:
            now = time.time() * 1000
            self.latencies_ms.append(now - sent_ms)
            if now - sent_ms > 100:
                self.slow_at.append(now)

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self, seconds: float) -> str:
        cpu = ", ".join(f"{k} {v:.1f}s ({100 * v / seconds:.0f}%)" for k, v in self.server_cpu_s.items())
        rss = ", ".join(
            f"{k} {v / max(1, self.connected) / 1024:.1f} KiB/conn" for k, v in self.server_rss_delta.items()
        )
        return (
            f"{self.name:5} clients={self.connected:5} deliveries={len(self.latencies_ms):7} "
            f"p50={self.pct(0.5):7.1f}ms p99={self.pct(0.99):7.1f}ms mean={self.mean():7.1f}ms "
            f"errors={self.errors} tb_subs={self.tb_subscriptions} requests={self.requests} "
            f"| cpu: {cpu} | {rss}"
        )

    def mean(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")


# -- the three ways --------------------------------------------------------------------------------------


async def push_client(url: str, token: str, phase: Phase, ready: asyncio.Event, stop: asyncio.Event) -> None:
    try:
        async with connect(url, open_timeout=30, max_queue=None) as ws:
            await ws.send(json.dumps({"type": "authenticate", "token": token}))
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "authenticated":
                phase.errors += 1
                return
            phase.connected += 1
            ready.set()
            # Read until the phase cancels this task: a timed receive per loop would cost the driver a timer
            # per client twice a second, CPU the clients share with petit on a small machine.
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "deviceData":
                    readings = message["data"]["readings"]
                    sent = readings.get("sentMs")
                    if sent is not None:
                        phase.record(float(sent["value"]))
    except Exception:
        if not stop.is_set():
            phase.errors += 1


async def poll_client(
    client: httpx.AsyncClient, device_id: str, tb_token: str, phase: Phase, stop: asyncio.Event
) -> None:
    phase.connected += 1
    seen: float | None = None
    url = f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries"
    headers = {"X-Authorization": f"Bearer {tb_token}"}
    next_at = time.monotonic() + (hash(device_id) % 1000) / 1000
    while not stop.is_set():
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += 1.0
        try:
            response = await client.get(url, params={"keys": "sentMs"}, headers=headers)
            phase.requests += 1
            samples = response.json().get("sentMs") or []
        except Exception:
            phase.errors += 1
            continue
        if samples and samples[0].get("value") is not None:
            sent = float(samples[0]["value"])
            if sent != seen:
                seen = sent
                phase.record(sent)


async def tbws_client(ws_url: str, device_id: str, tb_token: str, phase: Phase, stop: asyncio.Event) -> None:
    try:
        async with connect(ws_url, open_timeout=30, max_queue=None) as ws:
            cmd = {"type": "TIMESERIES", "entityType": "DEVICE", "entityId": device_id, "cmdId": 1}
            await ws.send(json.dumps({"authCmd": {"cmdId": 0, "token": tb_token}, "cmds": [cmd]}))
            phase.connected += 1
            phase.tb_subscriptions += 1
            async for raw in ws:  # until the phase cancels this task
                update = json.loads(raw)
                samples = (update.get("data") or {}).get("sentMs")
                if samples and samples[0][1] is not None:
                    phase.record(float(samples[0][1]))
    except Exception:
        if not stop.is_set():
            phase.errors += 1


# -- setup -----------------------------------------------------------------------------------------------


@dataclass
class World:
    petit_http: str
    petit_ws: str
    tb_http: str
    tb_ws: str
    mqtt_port: int
    petit_pid: int
    emulator_pid: int
    stats_path: Path
    devices: list[tuple[str, str]] = field(default_factory=list)  # (device id, MQTT token)
    user_tokens: list[str] = field(default_factory=list)  # per device: its owner's access token
    tb_token: str = ""
    #: --tracemalloc: where petit writes its allocation snapshots (a number appended per mark).
    tracemalloc: str = ""
    marks: int = 0
    #: Objects petit's collector tracks, at each mark.
    tracked: list[int] = field(default_factory=list)


async def setup_world(world: World, device_count: int) -> None:
    async with httpx.AsyncClient(base_url=world.tb_http, timeout=30) as tb:
        login = await tb.post("/api/auth/login", json={"username": TB_USER, "password": TB_PASSWORD})
        world.tb_token = login.json()["token"]
    from petit.thingsboard.client import ThingsBoardClient  # noqa: PLC0415 - the adapter as petit uses it
    from petit.thingsboard.models import ThingsBoardConfig  # noqa: PLC0415

    adapter = ThingsBoardClient(ThingsBoardConfig(url=world.tb_http, username=TB_USER, password=TB_PASSWORD))
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> tuple[str, str, str]:
        async with sem, httpx.AsyncClient(base_url=world.petit_http, timeout=60) as client:
            email, password = f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com", uuid.uuid4().hex
            await client.post("/auth/signup", json={"email": email, "password": password})
            tokens = (await client.post("/auth/login", json={"email": email, "password": password})).json()
            owner = await adapter.ensure_owner(email)
            token = uuid.uuid4().hex[:20]
            record = await adapter.create_device(
                f"bench-{uuid.uuid4().hex[:8]}", owner_id=owner.owner_id, access_token=token
            )
            return str(record.id), token, tokens["accessToken"]

    made = await asyncio.gather(*(one(i) for i in range(device_count)))
    await adapter.aclose()
    world.devices = [(d, t) for d, t, _ in made]
    world.user_tokens = [a for _, _, a in made]


async def mark_petit(world: World) -> None:
    """Have petit collect garbage (and snapshot its allocations with --tracemalloc); wait until it has."""
    world.marks += 1
    mark = Path(f"{world.stats_path}.mark")
    os.kill(world.petit_pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            answered, tracked = mark.read_text().split()  # noqa: ASYNC240 - tiny, local
            if answered == str(world.marks):
                world.tracked.append(int(tracked))
                return
        await asyncio.sleep(0.05)
    raise TimeoutError("petit did not answer the mark signal")


def print_allocations(path: str, before: int, after: int, connections: int) -> None:
    """What petit allocated for the connections, biggest first, per connection."""
    import tracemalloc  # noqa: PLC0415 - --tracemalloc only

    old = tracemalloc.Snapshot.load(f"{path}.{before}")
    new = tracemalloc.Snapshot.load(f"{path}.{after}")
    n = max(1, connections)
    total = sum(s.size_diff for s in new.compare_to(old, "filename"))
    print(f"tracemalloc: {total / n / 1024:.1f} KiB/conn traced (Python allocations only)", flush=True)
    for group in ("filename", "lineno"):
        print(f"  by {group}:", flush=True)
        for stat in new.compare_to(old, group)[:25]:
            frame = stat.traceback[0]
            where = frame.filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            label = where if group == "filename" else f"{where}:{frame.lineno}"
            print(
                f"    {stat.size_diff / n:8.0f} B/conn {stat.count_diff / n:6.1f} blocks/conn  {label}",
                flush=True,
            )
    print("  biggest tracebacks:", flush=True)
    for stat in new.compare_to(old, "traceback")[:40]:
        print(f"    {stat.size_diff / n:8.0f} B/conn {stat.count_diff / n:6.1f} blocks/conn", flush=True)
        for line in stat.traceback.format(limit=6, most_recent_first=True)[1::2]:
            print(f"      {line.strip()}", flush=True)


def petit_stats(world: World) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(world.stats_path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


async def run_phase(
    name: str, world: World, clients: int, seconds: float, devices: list[MqttDevice]
) -> Phase:
    phase = Phase(name)
    stop = asyncio.Event()
    ready = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    # The driver too: on a small machine the clients themselves can be the bottleneck.
    pids = {"petit": world.petit_pid, "emulator": world.emulator_pid, "driver": os.getpid()}
    await mark_petit(world)
    rss_before = {k: proc_usage(p)[1] for k, p in pids.items()}
    http: httpx.AsyncClient | None = None
    if name == "poll":
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        http = httpx.AsyncClient(base_url=world.tb_http, timeout=10, limits=limits)
    for c in range(clients):
        device_index = c % len(world.devices)
        device_id = world.devices[device_index][0]
        if name == "push":
            coro = push_client(world.petit_ws, world.user_tokens[device_index], phase, ready, stop)
        elif name == "poll":
            assert http is not None
            coro = poll_client(http, device_id, world.tb_token, phase, stop)
        else:
            coro = tbws_client(world.tb_ws, device_id, world.tb_token, phase, stop)
        tasks.append(asyncio.create_task(coro))
        if c % 50 == 49:
            await asyncio.sleep(0.05)  # a ramp, not a thundering herd of handshakes
            # Each handshake reads the database and ThingsBoard: past a few hundred in flight they queue for
            # the pool until they time out, and the phase measures fewer clients than asked.
            in_flight = 50 if world.tracemalloc else 250
            ramp_end = time.monotonic() + 60
            while c + 1 - phase.connected - phase.errors > in_flight and time.monotonic() < ramp_end:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while phase.connected + phase.errors < clients and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    if name == "push":
        phase.tb_subscriptions = int(petit_stats(world).get("upstream_subscriptions", -1))
    await mark_petit(world)
    rss_connected = {k: proc_usage(p)[1] for k, p in pids.items()}
    phase.tracked_per_conn = (world.tracked[-1] - world.tracked[-2]) / max(1, phase.connected)
    # The mark's full collection stops petit's loop for up to a second with thousands of sockets open: let
    # it catch up (keepalive pings, re-checks) so the phase measures streaming, not the bench's own pause.
    # At 5,000 clients petit runs at ~80% of a core while streaming, so a second's backlog takes seconds.
    await asyncio.sleep(SETTLE_S)
    # One round of readings before the window: the first reading of a device after petit starts costs one
    # ThingsBoard read (the types of its keys, petit.thingsboard.keytypes), a once-per-process warm-up that is
    # not the fan-out this phase measures. Without it, the window's first second or two carry it.
    await publish_loop(devices, 1.0)
    await asyncio.sleep(2.0)
    # The clients stand in for separate phones: this one process's collector pausing all of them at once
    # (hundreds of ms with 5,000 sockets) would be counted as petit's latency.
    gc.collect()
    gc.disable()
    if world.tracemalloc:
        print_allocations(world.tracemalloc, world.marks - 1, world.marks, phase.connected)
    cpu_before = {k: proc_usage(p)[0] for k, p in pids.items()}
    phase.start_ms = time.time() * 1000
    phase.published = await publish_loop(devices, seconds)
    cpu_after = {k: proc_usage(p)[0] for k, p in pids.items()}
    await asyncio.sleep(1.5)  # the last publishes arrive
    phase.petit_loop = petit_stats(world).get("gc") or {}
    gc.enable()
    stop.set()
    for task in tasks:
        task.cancel()  # clients read until cancelled; polling ones also watch `stop`
    await asyncio.gather(*tasks, return_exceptions=True)
    if http is not None:
        await http.aclose()
    phase.server_cpu_s = {k: cpu_after[k] - cpu_before[k] for k in pids}
    phase.server_rss_delta = {k: rss_connected[k] - rss_before[k] for k in pids}
    return phase


# -- serve modes -----------------------------------------------------------------------------------------


async def serve_emulator(ports: str) -> None:
    from thingsboard_emulator import Emulator  # noqa: PLC0415 - serve mode only

    http_port, mqtt_port = (int(part) for part in ports.split(":"))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Emulator(HOST, http_port, mqtt_port):
        await asyncio.wait_for(stop.wait(), 3600)


async def serve_petit(port: int, stats_path: str) -> None:  # noqa: C901 - one linear set-up
    import uvicorn  # noqa: PLC0415 - serve mode only

    from petit.app import create_app  # noqa: PLC0415
    from petit.db.migrate import upgrade  # noqa: PLC0415
    from petit.realtime.config import StreamLimits  # noqa: PLC0415
    from petit.runtime import runtime_of  # noqa: PLC0415
    from petit.serving import uvicorn_options  # noqa: PLC0415
    from petit.settings import Settings  # noqa: PLC0415

    settings = Settings()
    await asyncio.to_thread(upgrade, settings.db.url)
    per_user = int(os.environ.get("BENCH_STREAMS_PER_USER", CLIENTS_PER_USER))
    app = create_app(settings, stream_limits=StreamLimits(max_streams_per_user=per_user + 5))
    # Served the way `petit run` serves (WebSocket implementation, compression), from the same settings.
    config = uvicorn.Config(app, host=HOST, port=port, **uvicorn_options(settings))
    server = uvicorn.Server(config)

    # Collector pauses stop the whole loop: record them, to tell a latency tail from petit's own work. Counted
    # per generation since the last mark, so the numbers printed after a phase are the phase's own.
    def fresh() -> dict[str, float]:
        stats = {f"gen{g}{k}": 0.0 for g in range(3) for k in ("", "_total_ms", "_max_ms")}
        stats |= {"lag_max_ms": 0.0, "lag_over_20ms": 0, "lag_samples": 0}
        return stats

    pauses = fresh()
    started_at: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started_at[0] = time.perf_counter()
            return
        took = (time.perf_counter() - started_at[0]) * 1000
        gen = f"gen{info.get('generation')}"
        pauses[gen] += 1
        pauses[f"{gen}_total_ms"] += took
        pauses[f"{gen}_max_ms"] = max(pauses[f"{gen}_max_ms"], took)

    async def watch_lag() -> None:
        # How late a 10 ms timer fires: the loop's stalls whatever their cause (collector, a long callback).
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            late = (loop.time() - before - 0.01) * 1000
            pauses["lag_samples"] += 1
            pauses["lag_max_ms"] = max(pauses["lag_max_ms"], late)
            pauses["lag_over_20ms"] += late > 20
            if late > 50:
                stalls = pauses.setdefault("stalls", [])  # type: ignore[arg-type]
                stalls.append((round(time.time() * 1000 - late), round(late)))  # type: ignore[union-attr]

    gc.callbacks.append(on_gc)

    async def report() -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                hub = runtime_of(app).hub
            except RuntimeError:  # not started yet
                continue
            if hub is not None:
                stats = {
                    "upstream_subscriptions": hub.upstream_subscriptions,
                    "sessions": hub.sessions,
                    "gc": pauses,
                }
                Path(stats_path).write_text(json.dumps(stats))  # noqa: ASYNC240 - tiny, local

    reporter = asyncio.create_task(report())
    lag_watch = asyncio.create_task(watch_lag())
    # The driver sends SIGUSR1 around connecting: collect first, so the RSS it reads then is what the live
    # connections hold, not garbage awaiting a pass; with --tracemalloc also write a snapshot to compare.
    trace_path = os.environ.get("BENCH_PETIT_TRACEMALLOC")
    if trace_path:
        import tracemalloc  # noqa: PLC0415 - --tracemalloc only

        tracemalloc.start(int(os.environ.get("BENCH_PETIT_TRACEMALLOC_FRAMES", "12")))
    marks = [0]

    def on_mark() -> None:
        gc.collect()
        marks[0] += 1
        if trace_path:
            tracemalloc.take_snapshot().dump(f"{trace_path}.{marks[0]}")
        pauses.update(fresh())
        pauses.pop("stalls", None)
        # What a full collector pass walks: its duration grows with this, not with bytes.
        tracked = len(gc.get_objects())
        Path(f"{stats_path}.mark").write_text(f"{marks[0]} {tracked}")

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, on_mark)
    profile_path = os.environ.get("BENCH_PETIT_PROFILE")
    profiler = None
    if profile_path:
        import cProfile  # noqa: PLC0415 - --profile only

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        await server.serve()
    finally:
        reporter.cancel()
        lag_watch.cancel()
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)


# -- main ------------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:  # noqa: C901 - one linear run
    http_port, mqtt_port, petit_port = free_port(), free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    stats_path = tmp / "petit-stats.json"
    redis_prefix = f"bench-stream-{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "PETIT_ENVIRONMENT": "test",
        "PETIT_AUTH__JWT_SECRET": uuid.uuid4().hex * 2,
        "PETIT_AUTH__ARGON2_MEMORY_COST_KIB": "64",
        "PETIT_AUTH__ARGON2_TIME_COST": "1",
        "PETIT_AUTH__LOGIN_MAX_PER_IP": "100000",
        "PETIT_DB__URL": f"sqlite+aiosqlite:///{tmp / 'petit.sqlite3'}",
        "PETIT_REDIS__URL": REDIS_URL,
        "PETIT_REDIS__KEY_PREFIX": redis_prefix,
        "PETIT_THINGSBOARD__URL": f"http://{HOST}:{http_port}",
        "PETIT_THINGSBOARD__USERNAME": TB_USER,
        "PETIT_THINGSBOARD__PASSWORD": TB_PASSWORD,
        "PETIT_THINGSBOARD__MQTT_PORT": str(mqtt_port),
        "PETIT_LOG__LEVEL": "WARNING",
    }
    # Clients of one device share its owner's account: the per-user stream cap must admit them.
    env["BENCH_STREAMS_PER_USER"] = str(max(CLIENTS_PER_USER, -(-args.clients // args.devices)))
    if args.profile:
        env["BENCH_PETIT_PROFILE"] = args.profile  # resolved in parse_args
    if args.tracemalloc:
        env["BENCH_PETIT_TRACEMALLOC"] = str(tmp / "petit-heap")
    emulator = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped below
        [sys.executable, __file__, "--serve-emulator", f"{http_port}:{mqtt_port}"], cwd=ROOT, env=env
    )
    petit = None
    try:
        await wait_for_port(http_port)
        await wait_for_port(mqtt_port)
        petit = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, __file__, "--serve-petit", str(petit_port), str(stats_path)], cwd=ROOT, env=env
        )
        await wait_for_port(petit_port, within=60)
        world = World(
            petit_http=f"http://{HOST}:{petit_port}",
            petit_ws=f"ws://{HOST}:{petit_port}/ws",
            tb_http=f"http://{HOST}:{http_port}",
            tb_ws=f"ws://{HOST}:{http_port}/api/ws",
            mqtt_port=mqtt_port,
            petit_pid=petit.pid,
            emulator_pid=emulator.pid,
            stats_path=stats_path,
            tracemalloc=env.get("BENCH_PETIT_TRACEMALLOC", ""),
        )
        started = time.monotonic()
        await setup_world(world, args.devices)
        print(f"setup: {args.devices} users/devices in {time.monotonic() - started:.1f}s", flush=True)
        loop = asyncio.get_running_loop()
        devices: list[MqttDevice] = []
        for _, token in world.devices:
            _, device = await loop.create_connection(functools.partial(MqttDevice, token), HOST, mqtt_port)
            devices.append(device)
        await asyncio.gather(*(asyncio.wait_for(d.connected, 30) for d in devices))
        results = []
        for name in args.phases.split(","):
            phase = await run_phase(name, world, args.clients, args.seconds, devices)
            results.append(phase)
            print(phase.row(args.seconds), flush=True)
        by = {p.name: p for p in results}
        if "push" in by:
            push = by["push"]
            for other in ("poll", "tbws"):
                if other in by:
                    o = by[other]
                    cpu_push = push.server_cpu_s["petit"] + push.server_cpu_s["emulator"]
                    cpu_other = o.server_cpu_s["petit"] + o.server_cpu_s["emulator"]
                    cpu_ratio = cpu_other / max(cpu_push, 1e-9)
                    print(
                        f"ratio {other}/push: p50 {o.pct(0.5) / push.pct(0.5):.1f}x, "
                        f"p99 {o.pct(0.99) / push.pct(0.99):.1f}x, server CPU {cpu_ratio:.1f}x, "
                        f"ThingsBoard subscriptions {o.tb_subscriptions}/{push.tb_subscriptions}",
                        flush=True,
                    )
            if "tbws" in by:
                tbws = by["tbws"]
                print(
                    f"goal /ws p99 <= 2x per-client socket p99: push/tbws p99 "
                    f"{push.pct(0.99) / tbws.pct(0.99):.2f}x, p50 {push.pct(0.5) / tbws.pct(0.5):.2f}x",
                    flush=True,
                )
            print(f"petit collector passes and loop lag while publishing: {push.petit_loop}", flush=True)
            if push.slow_at:
                by_second = collections.Counter(int((t - push.start_ms) // 1000) for t in push.slow_at)
                print(
                    f"deliveries over 100 ms by second of the phase: {sorted(by_second.items())}", flush=True
                )
                stalls = push.petit_loop.get("stalls") or []
                print(
                    "petit loop stalls over 50 ms (second of the phase, ms): "
                    f"{[(int((at - push.start_ms) // 1000), ms) for at, ms in stalls]}",  # type: ignore[union-attr]
                    flush=True,
                )
            per_conn_cpu = 1000 * push.server_cpu_s["petit"] / max(1, push.connected) / args.seconds
            print(
                f"push per connection: petit CPU {per_conn_cpu:.3f} ms/s, "
                f"RSS {push.server_rss_delta['petit'] / max(1, push.connected) / 1024:.1f} KiB, "
                f"{push.tracked_per_conn:.0f} objects the collector tracks; "
                f"ThingsBoard subscriptions held: {push.tb_subscriptions} for {push.connected} clients",
                flush=True,
            )
        for device in devices:
            if device.transport is not None:
                device.transport.close()
        return 0
    finally:
        for proc in (petit, emulator):
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM) if proc is emulator else proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        # The run's journal, revocation and token keys: the Redis it used is shared with the test suite.
        await forget_keys(redis_prefix)
        shutil.rmtree(tmp, ignore_errors=True)


async def forget_keys(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                await redis.delete(*batch)
                batch.clear()
        if batch:
            await redis.delete(*batch)
    except OSError:
        pass  # Redis went away: nothing to clean, nothing to report
    finally:
        await redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--phases", default="push,poll,tbws")
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile petit (slows it) and write the stats to PATH at exit"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace petit's allocations (slows it) and print what the connections hold, per connection",
    )
    parser.add_argument("--serve-emulator", metavar="HTTP:MQTT")
    parser.add_argument("--serve-petit", nargs=2, metavar=("PORT", "STATS"))
    args = parser.parse_args()
    if args.profile:
        args.profile = str(Path(args.profile).resolve())  # the petit child runs from the repository root
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_emulator:
        asyncio.run(serve_emulator(arguments.serve_emulator))
    elif arguments.serve_petit:
        from uvicorn.loops.auto import auto_loop_factory

        # The event loop uvicorn picks for `petit run` (uvloop when installed), not asyncio.run's default.
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=auto_loop_factory()) as runner,
        ):
            runner.run(serve_petit(int(arguments.serve_petit[0]), arguments.serve_petit[1]))
    else:
        sys.exit(asyncio.run(main(arguments)))
