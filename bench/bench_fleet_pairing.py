"""Fleet pairing end to end: N simulated devices (firmware.sim) paired by the reference client through a real
petit (its own process on a loopback port, PostgreSQL, Redis) and the ThingsBoard emulator.

petit (``petit run``) and the emulator run as processes of their own, as deployed; the fleet and the app
lanes share this process. For each device an "app" lane calls StartPairing, POSTs /config/data to the device's
local API, then polls the device's status and GetPairing until ``completed``
(porto_contract.client.pair_device). Reported: devices paired per second, p50/p99 from StartPairing to
completed, and resident memory per simulated device (RSS growth of this process while the fleet starts,
divided by its size; and again once paired, when each device also holds an MQTT session).

    uv run python bench/bench_fleet_pairing.py                         # 1,000 devices, 10 lanes
    uv run python bench/bench_fleet_pairing.py --devices 200 --lanes 20

Measured on the 2-core box (issue 7), all devices paired, no errors:
- 1,000 devices, 10 lanes: 11.0 devices/s, p50 798 ms, p99 1,746 ms; RSS/device 27 KiB idle, 69 KiB paired.
- 400 devices, 10 lanes: 12.1 devices/s, p50 729 ms, p99 1,557 ms.
- 300 devices, 40 lanes: 14.4 devices/s, p50 2,431 ms, p99 3,316 ms (CPU-bound: more lanes only queue).
Earlier runs lost CONNACKs (MQTT_CONNECTION_TIMEOUT) once this process held 1,024 descriptors: paho's
loop thread select()s, which cannot watch higher ones. firmware.sim now serves every MQTT socket with epoll.

Loopback only; every wait is bounded by a deadline; the database and Redis keys are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from _support import ADMIN_URL
from redis import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from firmware.sim.fleet import Fleet
from firmware.sim.world import World
from petit.db.migrate import upgrade
from porto_contract.client import DeviceClient, PortoClient, pair_device

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from firmware.sim.fleet import SimDevice

REDIS_URL = os.environ.get("PETIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SSID, WIFI_PASSWORD = "bench-home", "bench-pass-123"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up within {within_s} s")
        time.sleep(0.2)


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def petit_env(db_url: str, prefix: str, http_port: int, mqtt_port: int) -> dict[str, str]:
    values = {
        "ENVIRONMENT": "test",
        "DB__URL": db_url,
        "DB__POOL_SIZE": "20",
        "DB__MAX_OVERFLOW": "20",
        "REDIS__URL": REDIS_URL,
        "REDIS__KEY_PREFIX": prefix,
        "AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AUTH__ARGON2_TIME_COST": "1",
        "AUTH__ARGON2_MEMORY_COST_KIB": "1024",
        "THINGSBOARD__URL": f"http://127.0.0.1:{http_port}",
        "THINGSBOARD__USERNAME": "tenant@thingsboard.org",
        "THINGSBOARD__PASSWORD": "tenant",
        "THINGSBOARD__MQTT_HOST": "127.0.0.1",
        "THINGSBOARD__MQTT_PORT": str(mqtt_port),
        "THINGSBOARD__MAX_WORKERS": "16",
        # One client address and few users make many attempts here; the limits are not under test.
        "OWNERSHIP__MAX_ATTEMPTS_PER_IP": "1000000",
        "OWNERSHIP__MAX_ATTEMPTS_PER_USER": "1000000",
        "OWNERSHIP__PAIRING_WATCH_INTERVAL_S": "0.5",
        "LOG__LEVEL": "ERROR",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETIT_")}
    return env | {f"PETIT_{k}": v for k, v in values.items()}


def lane(url: str, devices: list[SimDevice], args: argparse.Namespace) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    with PortoClient(url, timeout_s=30) as porto:
        email = f"fleet-{uuid.uuid4().hex[:12]}@example.com"
        password = secrets.token_urlsafe(16)
        porto.signup(email, password)
        porto.login(email, password)
        for device in devices:
            started = time.perf_counter()
            try:
                with DeviceClient(device.local_url, timeout_s=10) as local:
                    pair_device(
                        porto,
                        local,
                        name=f"dev-{device.identity['index']}",
                        ssid=SSID,
                        password=WIFI_PASSWORD,
                        timeout_s=args.limit_s,
                        poll_s=args.poll_s,
                    )
                latencies.append(time.perf_counter() - started)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    return latencies, errors


def run(
    args: argparse.Namespace,
    lane_fn: Callable[[str, list[SimDevice], argparse.Namespace], tuple[list[float], list[str]]] = lane,
    spawn_options: dict[str, Any] | None = None,
) -> int:
    """The fleet run; ``lane_fn`` is what one app client does per device, ``spawn_options`` the devices'
    extra options (bench_fleet_provisioning.py passes ESP-IDF provisioning)."""
    db_name = f"bench_fleet_{uuid.uuid4().hex[:8]}"
    admin_exec(f'CREATE DATABASE "{db_name}"')
    db_url = make_url(ADMIN_URL).set(database=db_name).render_as_string(hide_password=False)
    prefix = f"bench-fleet-{uuid.uuid4().hex[:8]}:"
    redis = Redis.from_url(REDIS_URL)
    tb_http, tb_mqtt, petit_port = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{petit_port}"
    try:
        upgrade(db_url)
        world = World(join_delay_s=0.05)
        world.add(SSID, WIFI_PASSWORD)
        emulator = ["-m", "thingsboard_emulator", "--http-port", str(tb_http), "--mqtt-port", str(tb_mqtt)]
        petit = ["-m", "petit", "run", "--host", "127.0.0.1", "--port", str(petit_port)]
        with process([*emulator, "--log-level", "ERROR"]):
            wait_http(f"http://127.0.0.1:{tb_http}/api/auth/login", 60)
            with process(petit, petit_env(db_url, prefix, tb_http, tb_mqtt)):
                wait_http(url + "/health/live", 60)
                device_settings = {"telemetry_interval_s": 60.0, "backoff_base_s": 0.2, "backoff_max_s": 2.0}
                with Fleet(world, mqtt_port=tb_mqtt, settings=device_settings) as fleet:
                    before = rss_bytes()
                    spawn = time.perf_counter()
                    devices = fleet.spawn(args.devices, **(spawn_options or {}))
                    spawn = time.perf_counter() - spawn
                    per_device = (rss_bytes() - before) / max(len(devices), 1)
                    shares = [devices[i :: args.lanes] for i in range(args.lanes)]
                    wall = time.perf_counter()
                    with ThreadPoolExecutor(max_workers=args.lanes) as pool:
                        results = list(pool.map(lambda share: lane_fn(url, share, args), shares))
                    wall = time.perf_counter() - wall
                    after = (rss_bytes() - before) / max(len(devices), 1)
                    paired = sum(1 for d in devices if d.device.paired())
        latencies = sorted(x for r in results for x in r[0])
        errors = [e for r in results for e in r[1]]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
        p50 = statistics.median(latencies) if latencies else float("nan")
        print(
            f"devices={args.devices} lanes={args.lanes} poll={args.poll_s}s completed={len(latencies)} "
            f"device-side-paired={paired} errors={len(errors)} wall={wall:.1f}s "
            f"rate={len(latencies) / wall:.1f} devices/s p50={p50 * 1000:.0f}ms p99={p99 * 1000:.0f}ms "
            f"max={(latencies[-1] if latencies else float('nan')) * 1000:.0f}ms "
            f"fleet-start={spawn:.1f}s rss/device={per_device / 1024:.0f}KiB idle, "
            f"{after / 1024:.0f}KiB paired (simulator process: HTTP server, thread, MQTT session)"
        )
        for error in errors[:5]:
            print("  error:", error)
        return 0 if not errors else 1
    finally:
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
        redis.close()
        admin_exec(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def admin_exec(statement: str) -> None:
    async def go() -> None:
        engine = create_async_engine(ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(go())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--lanes", type=int, default=10, help="app clients pairing at once (one user each)")
    parser.add_argument("--poll-s", type=float, default=0.25, help="how often the app polls device and petit")
    parser.add_argument("--limit-s", type=float, default=90.0, help="give up on one pairing after this long")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(run(parse_args()))
