"""Fleet pairing end to end: N simulated devices (firmware.sim) paired by the reference client through a real
petit (uvicorn on a loopback port, PostgreSQL, Redis) and the ThingsBoard emulator.

For each device an "app" lane calls StartPairing, POSTs /config/data to the device's local API, then polls
the device's status and GetPairing until ``completed`` (porto_contract.client.pair_device). Reported: devices
paired per second, p50/p99 from StartPairing to completed, and resident memory per simulated device (RSS
growth while the fleet starts, divided by its size, before any device joins Wi-Fi; paired devices add an MQTT
session each, see rss-after).

    uv run python bench/bench_fleet_pairing.py                         # 1,000 devices, 50 lanes
    uv run python bench/bench_fleet_pairing.py --devices 200 --lanes 20

Loopback only; every wait is bounded by a deadline; the database and Redis keys are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from redis import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from firmware.sim.fleet import Fleet
from firmware.sim.world import World
from petit.app import create_app
from petit.db.migrate import upgrade
from petit.settings import Environment, Settings
from porto_contract.client import DeviceClient, PortoClient, pair_device
from thingsboard_emulator import Emulator

if TYPE_CHECKING:
    from litestar import Litestar

    from firmware.sim.fleet import SimDevice

ADMIN_URL = os.environ.get("PETIT_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PETIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SSID, WIFI_PASSWORD = "bench-home", "bench-pass-123"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Server:
    """petit under uvicorn on its own thread and loop (startup/shutdown: no signal handlers taken)."""

    def __init__(self, app: Litestar) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="petit", daemon=True)
        config = uvicorn.Config(app, ws="websockets-sansio", log_level="error", lifespan="on")
        config.load()
        self.server = uvicorn.Server(config)
        self.server.lifespan = config.lifespan_class(config)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self) -> Server:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.startup(sockets=[self.sock]), self.loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.sock.close()


def settings_for(db_url: str, prefix: str, emu: Emulator) -> Settings:
    return Settings(
        environment=Environment.TEST,
        db={"url": db_url, "pool_size": 20, "max_overflow": 20},  # type: ignore[arg-type]
        redis={"url": REDIS_URL, "key_prefix": prefix},  # type: ignore[arg-type]
        auth={  # type: ignore[arg-type]
            "jwt_secret": secrets.token_urlsafe(32),
            "argon2_time_cost": 1,
            "argon2_memory_cost_kib": 1024,
        },
        thingsboard={  # type: ignore[arg-type]
            "url": emu.http_url,
            "username": "tenant@thingsboard.org",
            "password": "tenant",
            "mqtt_host": "127.0.0.1",
            "mqtt_port": emu.mqtt_port,
            "max_workers": 16,
        },
        # One client address and few users make many attempts here; the limits are not under test.
        ownership={  # type: ignore[arg-type]
            "max_attempts_per_ip": 1_000_000,
            "max_attempts_per_user": 1_000_000,
            "pairing_watch_interval_s": 0.5,
        },
        log={"level": "ERROR"},  # type: ignore[arg-type]
    )


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


def run(args: argparse.Namespace) -> int:
    db_name = f"bench_fleet_{uuid.uuid4().hex[:8]}"
    admin_exec(f'CREATE DATABASE "{db_name}"')
    db_url = make_url(ADMIN_URL).set(database=db_name).render_as_string(hide_password=False)
    prefix = f"bench-fleet-{uuid.uuid4().hex[:8]}:"
    redis = Redis.from_url(REDIS_URL)
    try:
        upgrade(db_url)
        world = World(join_delay_s=0.05)
        world.add(SSID, WIFI_PASSWORD)
        with (
            Emulator().run_in_thread() as emu,
            Server(create_app(settings_for(db_url, prefix, emu))) as server,
        ):
            device_settings = {"telemetry_interval_s": 60.0, "backoff_base_s": 0.2, "backoff_max_s": 2.0}
            with Fleet(world, mqtt_port=emu.mqtt_port, settings=device_settings) as fleet:
                before = rss_bytes()
                spawn = time.perf_counter()
                devices = fleet.spawn(args.devices)
                spawn = time.perf_counter() - spawn
                per_device = (rss_bytes() - before) / max(len(devices), 1)
                shares = [devices[i :: args.lanes] for i in range(args.lanes)]
                wall = time.perf_counter()
                with ThreadPoolExecutor(max_workers=args.lanes) as pool:
                    results = list(pool.map(lambda share: lane(server.url, share, args), shares))
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
            f"fleet-start={spawn:.1f}s rss/device={per_device / 1024:.0f}KiB "
            f"rss-after/device={after / 1024:.0f}KiB (process-wide, petit and emulator included)"
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
    parser.add_argument("--lanes", type=int, default=50, help="app clients pairing at once (one user each)")
    parser.add_argument("--poll-s", type=float, default=0.25, help="how often the app polls device and petit")
    parser.add_argument("--limit-s", type=float, default=90.0, help="give up on one pairing after this long")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(run(parse_args()))
