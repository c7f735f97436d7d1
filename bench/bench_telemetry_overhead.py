"""GetLatestTelemetry through petit against the same read straight from ThingsBoard, side by side in one run.

A real petit (``petit run``: uvicorn, production settings, PostgreSQL and Redis on loopback) talks to the
ThingsBoard emulator, which runs in this process on a thread of its own so that its auth endpoints can be
counted. One device of one petit user reports a few keys over MQTT. Then, interleaved at concurrency 1 (so
every leg sees the same machine state), each timed with urllib3, the HTTP stack RestClientCE itself uses:

- petit:  GET /devices/{id}/telemetry/latest?keys=... with the user's bearer token (JWT check, revocation
  check in Redis, ownership lookup (cached per process), the adapter's thread pool, tb-rest-client, mapping);
- floor:  the same read through bench/_floor_proxy.py, a bare Litestar route on the same uvicorn that only
  forwards to RestClientCE on a thread: what any Python service in front of ThingsBoard costs here;
- direct: RestClientCE.get_latest_timeseries(...) on the same device with a tenant token.

It prints p50/p99 of each and petit's ratios to the floor (goals: p50 <= 1.15x, p99 <= 1.3x) and to direct.
Then the device is streamed (a few /ws clients hold it, so each worker likely holds a ThingsBoard
subscription) and petit is compared with direct again (goal: below direct when petit answers from the
stream; the X-Petit-Source header says how many answers did). Last, C concurrent readers for D seconds on
petit, then on the floor (goal: petit >= 85% of the floor's reads/s), and how many ThingsBoard logins petit
made in the whole run (goal: one per token lifetime, whatever the rate and the number of workers).

    uv run python bench/bench_telemetry_overhead.py                   # 1000 rounds, 2 workers
    uv run python bench/bench_telemetry_overhead.py --pairs 3000 --workers 4 --concurrency 32 --duration 10
    uv run python bench/bench_telemetry_overhead.py --tb-latency-ms 5   # ThingsBoard as slow as a real one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import urllib3
from _support import ADMIN_URL, admin_execute, drop_bench_state, free_port, wait_live
from paho.mqtt import client as mqtt
from sqlalchemy import make_url
from tb_rest_client.models.models_ce import DeviceId
from tb_rest_client.rest_client_ce import RestClientCE
from websockets.asyncio.client import ClientConnection, connect

from petit.db.migrate import upgrade
from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable

REDIS_URL = os.environ.get("PETIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TENANT = ("tenant@thingsboard.org", "tenant")
KEYS = "temperature,humidity,battery"


class EmulatorThread:
    """The emulator on its own loop and thread, with its login/refresh calls counted."""

    def __init__(self) -> None:
        self.logins = 0
        self.refreshes = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.emulator: Emulator | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Emulator() as emu:
            self.emulator = emu
            for name in ("login", "refresh"):
                original = getattr(emu.core, name)

                def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
                    with self._lock:
                        setattr(self, f"{_name}s", getattr(self, f"{_name}s") + 1)
                    return _original(*args)

                setattr(emu.core, name, counted)
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Emulator:
        self._thread.start()
        if not self._ready.wait(30) or self.emulator is None:
            raise RuntimeError("emulator did not start")
        return self.emulator

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    def slow_rest(self, delay_s: float) -> None:
        """Every emulator REST answer takes ``delay_s`` longer, set on the emulator's own loop."""
        if self._loop is None or self.emulator is None:
            raise RuntimeError("emulator not running")
        done = threading.Event()
        emulator = self.emulator

        def apply() -> None:
            emulator.faults.rest_slow(delay_s)
            done.set()

        self._loop.call_soon_threadsafe(apply)
        if not done.wait(10):
            raise RuntimeError("emulator did not apply the latency")

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.logins, self.refreshes


def _publish(port: int, token: str, values: dict[str, Any]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
    client.username_pw_set(token)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish("v1/devices/me/telemetry", json.dumps(values), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


#: X-Petit-Source values seen by the timed petit legs.
SOURCES: dict[str, int] = {}


def _get_json(pool: urllib3.PoolManager, url: str, headers: dict[str, str]) -> dict[str, Any]:
    response = pool.request("GET", url, headers=headers)
    if response.status != 200:
        raise RuntimeError(f"{url} answered {response.status}: {response.data[:200]!r}")
    source = response.headers.get("X-Petit-Source")
    if source is not None:
        SOURCES[source] = SOURCES.get(source, 0) + 1
    body: dict[str, Any] = json.loads(response.data)
    return body


def _quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


async def _setup_user_and_device(http: httpx.AsyncClient, emu: Emulator) -> tuple[dict[str, str], str, str]:
    email, password = f"bench-{uuid.uuid4().hex[:10]}@example.com", secrets.token_urlsafe(18)
    (await http.post("/auth/signup", json={"email": email, "password": password})).raise_for_status()
    login = await http.post("/auth/login", json={"email": email, "password": password})
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    created = await http.post("/devices", json={"name": "bench-thermo"}, headers=headers)
    created.raise_for_status()
    device_id = created.json()["id"]
    credentials = await http.get(f"/devices/{device_id}/credentials", headers=headers)
    credentials.raise_for_status()
    await asyncio.to_thread(
        _publish,
        emu.mqtt_port,
        credentials.json()["accessToken"],
        {"temperature": 21.5, "humidity": 40, "battery": 3.7},
    )
    grant = (await http.get("/streaming/token", headers=headers)).json()
    platform_id = next(d["streamId"] for d in grant["devices"] if d["deviceId"] == device_id)
    return headers, device_id, platform_id


async def _floors(http: httpx.AsyncClient, headers: dict[str, str], samples_n: int) -> None:
    """Where petit's share goes: the floor of any HTTP round trip, and of an authenticated one."""
    for label, probe_path in (("GET /health/live", "/health/live"), ("GET /users/me", "/users/me")):
        samples = []
        for _ in range(samples_n):
            started = time.perf_counter()
            (await http.get(probe_path, headers=headers)).raise_for_status()
            samples.append(time.perf_counter() - started)
        print(f"  floor : {label:<17} p50 {_quantile(samples, 50) * 1000:6.2f} ms")


def _side_by_side(legs: dict[str, Callable[[], Any]], *, rounds: int, warmup: int) -> dict[str, list[float]]:
    for _ in range(warmup):
        for read in legs.values():
            read()
    samples: dict[str, list[float]] = {name: [] for name in legs}
    names = list(legs)
    for i in range(rounds):
        # Rotate which goes first so none always inherits another's warm caches.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            legs[name]()
            samples[name].append(time.perf_counter() - started)
    return samples


def _report(samples: dict[str, list[float]]) -> None:
    p50 = {name: _quantile(values, 50) for name, values in samples.items()}
    p99 = {name: _quantile(values, 99) for name, values in samples.items()}
    for name in samples:
        ratios = f"p50 {p50[name] / p50['direct']:5.2f}x  p99 {p99[name] / p99['direct']:5.2f}x"
        print(
            f"  {name:<14}: p50 {p50[name] * 1000:6.2f} ms   p99 {p99[name] * 1000:6.2f} ms   "
            f"ratio to direct {ratios}"
        )
    for name in samples:
        if name == "direct":
            continue
        print(
            f"  overhead {name} - direct: p50 {(p50[name] - p50['direct']) * 1000:5.2f} ms   "
            f"p99 {(p99[name] - p99['direct']) * 1000:5.2f} ms"
        )
    if "floor" in samples and "petit" in samples:
        print(
            f"  petit / floor: p50 {p50['petit'] / p50['floor']:5.2f}x (goal <= 1.15)   "
            f"p99 {p99['petit'] / p99['floor']:5.2f}x (goal <= 1.30)"
        )


async def _stream_device(url: str, token: str, count: int) -> list[ClientConnection]:
    """``count`` authenticated /ws clients of the device's owner: uvicorn spreads them over the workers."""
    sockets = []
    for _ in range(count):
        socket = await connect(url.replace("http://", "ws://") + "/ws", open_timeout=10)
        await socket.send(json.dumps({"type": "authenticate", "token": token}))
        answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if answer.get("type") != "authenticated":
            raise RuntimeError(f"stream refused: {answer}")
        sockets.append(socket)
    return sockets


async def run(
    args: argparse.Namespace, emu: Emulator, counter: EmulatorThread, url: str, floor_url: str
) -> None:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        headers, device_id, platform_id = await _setup_user_and_device(http, emu)
        path = f"/devices/{device_id}/telemetry/latest"

        direct = RestClientCE(emu.http_url)
        direct.login(*TENANT)
        ref = DeviceId(platform_id, "DEVICE")

        def read_direct() -> Any:
            return direct.get_latest_timeseries(ref, keys=KEYS, use_strict_data_types=True)

        async def read_petit() -> dict[str, Any]:
            response = await http.get(path, params={"keys": KEYS}, headers=headers)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

        # The timed legs use urllib3, the HTTP stack RestClientCE itself uses, so every leg pays the same
        # client cost and the ratio measures petit rather than httpx (about 0.3 ms more per request here).
        pool = urllib3.PoolManager(maxsize=1)
        petit_url = f"{url}{path}?keys={KEYS}"

        floor_path = f"{floor_url}/latest/{platform_id}?keys={KEYS}"

        def read_petit_sync() -> dict[str, Any]:
            return _get_json(pool, petit_url, headers)

        def read_floor() -> dict[str, Any]:
            return _get_json(pool, floor_path, {})

        if args.tb_latency_ms > 0:
            # Loopback answers in well under a millisecond; a real ThingsBoard (network, Cassandra/PostgreSQL
            # behind it) takes several. Added here, after setup, to both paths alike.
            counter.slow_rest(args.tb_latency_ms / 1000)
        # Same answer both ways, or the comparison means nothing.
        through_petit = await read_petit()
        straight = read_direct()
        assert through_petit["values"]["temperature"]["value"] == 21.5, through_petit
        assert straight["temperature"][0]["value"] in (21.5, "21.5"), straight
        assert read_floor()["temperature"][0]["value"] in (21.5, "21.5")

        legs = {"petit": read_petit_sync, "floor": read_floor, "direct": read_direct}
        samples = _side_by_side(legs, rounds=args.pairs, warmup=args.warmup)
        latency = f", emulator REST latency +{args.tb_latency_ms:g} ms" if args.tb_latency_ms > 0 else ""
        print(f"GetLatestTelemetry, {args.pairs} interleaved rounds at concurrency 1, keys={KEYS}{latency}")
        _report(samples)
        await _floors(http, headers, min(args.pairs, 300))
        print(f"  X-Petit-Source of the timed petit reads: {dict(SOURCES)}")

        # The device streamed: sockets on (very likely) every worker, each holding a ThingsBoard subscription.
        sockets = await _stream_device(url, headers["Authorization"].partition(" ")[2], args.workers * 4)
        try:
            await asyncio.sleep(1.0)  # subscriptions answered, snapshots typed
            SOURCES.clear()
            streamed = _side_by_side(
                {"petit_streamed": read_petit_sync, "direct": read_direct},
                rounds=args.pairs,
                warmup=args.warmup,
            )
            print(f"GetLatestTelemetry with the device streamed ({len(sockets)} /ws clients), same rounds")
            _report(streamed)
            served = SOURCES.get("stream", 0) / max(1, sum(SOURCES.values()))
            print(f"  X-Petit-Source: {dict(SOURCES)} ({served:.0%} answered from the stream)")
        finally:
            for socket in sockets:
                await socket.close()

        # Load phase: many readers on every worker; ThingsBoard must still see one login.
        async def load(read: Callable[[], Any]) -> tuple[int, int]:
            done = errors = 0
            deadline = time.monotonic() + args.duration

            async def reader() -> None:
                nonlocal done, errors
                while time.monotonic() < deadline:
                    try:
                        await read()
                        done += 1
                    except httpx.HTTPError:
                        errors += 1

            await asyncio.gather(*(reader() for _ in range(args.concurrency)))
            return done, errors

        async with httpx.AsyncClient(base_url=floor_url, limits=limits, timeout=30) as floor_http:

            async def read_floor_async() -> Any:
                response = await floor_http.get(f"/latest/{platform_id}", params={"keys": KEYS})
                response.raise_for_status()
                return response.json()

            done, errors = await load(read_petit)
            floor_done, floor_errors = await load(read_floor_async)
        logins, refreshes = counter.counts()
        print(
            f"load: {done} reads in {args.duration:g}s ({done / args.duration:.0f}/s) by {args.concurrency} "
            f"concurrent clients over {args.workers} petit workers, {errors} errors"
        )
        print(
            f"load: floor {floor_done} reads ({floor_done / args.duration:.0f}/s), {floor_errors} errors; "
            f"petit / floor reads/s {done / max(1, floor_done):.0%} (goal >= 85%)"
        )
        # One login is the direct RestClientCE's and one per floor-proxy worker; the rest are petit's.
        petit_logins = logins - 1 - args.workers
        print(f"ThingsBoard logins by petit in the whole run: {petit_logins}   refreshes: {refreshes}")


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="petit worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="readers in the load phase")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of the load phase")
    parser.add_argument(
        "--tb-latency-ms",
        type=float,
        default=0.0,
        help="extra latency on every emulator REST answer, to resemble a real ThingsBoard (e.g. 5)",
    )
    args = parser.parse_args()
    # Hard caps keep an accidental huge run from hammering the shared machine.
    args.pairs = min(args.pairs, 20_000)
    args.duration = min(args.duration, 60.0)
    args.concurrency = min(args.concurrency, 128)

    db_name = f"petit_bench_{uuid.uuid4().hex[:10]}"
    await admin_execute(f'CREATE DATABASE "{db_name}"')
    db_url = make_url(ADMIN_URL).set(database=db_name).render_as_string(hide_password=False)
    prefix = f"petit-bench:{uuid.uuid4().hex}:"
    process = None
    counter = EmulatorThread()
    try:
        await asyncio.to_thread(upgrade, db_url)
        with counter as emu:
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("PETIT_")}
            env.update(
                {
                    "PETIT_ENVIRONMENT": "production",
                    "PETIT_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                    "PETIT_DB__URL": db_url,
                    "PETIT_REDIS__URL": REDIS_URL,
                    "PETIT_REDIS__KEY_PREFIX": prefix,
                    "PETIT_THINGSBOARD__URL": emu.http_url,
                    "PETIT_THINGSBOARD__USERNAME": TENANT[0],
                    "PETIT_THINGSBOARD__PASSWORD": TENANT[1],
                    "PETIT_THINGSBOARD__MQTT_PORT": str(emu.mqtt_port),
                    "PETIT_LOG__LEVEL": "WARNING",
                }
            )
            command = [sys.executable, "-m", "petit", "run", "--host", "127.0.0.1", "--port", str(port)]
            process = subprocess.Popen([*command, "--workers", str(args.workers)], env=env)  # noqa: ASYNC220
            url = f"http://127.0.0.1:{port}"
            floor_port = free_port()
            floor_env = {**env, "FLOOR_TB_URL": emu.http_url}
            floor = subprocess.Popen(  # noqa: ASYNC220
                [
                    *(sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(Path(__file__).parent)),
                    *("--host", "127.0.0.1", "--port", str(floor_port), "--workers", str(args.workers)),
                    *("--log-level", "warning", "_floor_proxy:create_app"),
                ],
                env=floor_env,
            )
            floor_url = f"http://127.0.0.1:{floor_port}"
            await wait_live(url, process)
            await wait_live(floor_url, floor)
            print(
                f"petit at {url} ({args.workers} workers), emulator at {emu.http_url}, {os.cpu_count()} CPUs"
            )
            try:
                await run(args, emu, counter, url, floor_url)
            finally:
                floor.terminate()
                await asyncio.to_thread(floor.wait, 15)
            process.terminate()
            await asyncio.to_thread(process.wait, 15)
            process = None
    finally:
        if process is not None:
            process.terminate()
            await asyncio.to_thread(process.wait, 15)
        await drop_bench_state(db_name, REDIS_URL, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
