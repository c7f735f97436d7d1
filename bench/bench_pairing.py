"""App-assisted pairing throughput: N scripted devices paired end to end through petit and the emulator.

For each device the "app" calls StartPairing, the device connects to the emulator's MQTT broker with the
returned access token and publishes its pair key (porto_contract/device/pairing.md, QoS 1), and the app polls
GetPairing until ``completed``. Reported: pairings completed per second and p50/p99 time from StartPairing to
completed. petit runs in this process over ASGI (no HTTP server in the way), with its pairing watcher; the
emulator runs on its own thread and loop; PostgreSQL and Redis are the real local ones (a fresh database and a
private key prefix, removed afterwards).

    uv run python bench/bench_pairing.py                  # 500 devices, 50 at a time
    uv run python bench/bench_pairing.py --devices 100 --concurrency 20 --poll-s 0.25

Loopback only; every wait is bounded by a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import struct
import sys
import time
import uuid
from contextlib import suppress
from typing import Any

import httpx
from _support import ADMIN_URL
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.app import create_app
from petit.db.migrate import upgrade
from petit.settings import Environment, Settings
from thingsboard_emulator import Emulator

REDIS_URL = os.environ.get("PETIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _mqtt_string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = (await reader.readexactly(1))[0]
    multiplier, length = 1, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            break
    return header >> 4, await reader.readexactly(length)


async def device_pairs(port: int, token: str, pair_key: str) -> None:
    """A minimal MQTT 3.1.1 device: CONNECT with the token as username, one QoS 1 PUBLISH, wait for PUBACK."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        variable = _mqtt_string("MQTT") + bytes([4, 0x82]) + struct.pack("!H", 60)
        payload = _mqtt_string(uuid.uuid4().hex) + _mqtt_string(token)
        body = variable + payload
        writer.write(bytes([0x10]) + _remaining_length(len(body)) + body)
        kind, ack = await _read_packet(reader)
        if kind != 2 or ack[1] != 0:
            raise RuntimeError(f"connection refused: {ack!r}")
        message = json.dumps({"pairKey": pair_key, "mac": "AA:BB:CC:DD:EE:FF", "firmwareVersion": "bench"})
        body = _mqtt_string("v1/devices/me/attributes") + struct.pack("!H", 1) + message.encode()
        writer.write(bytes([0x32]) + _remaining_length(len(body)) + body)
        kind, _ = await _read_packet(reader)
        if kind != 4:
            raise RuntimeError(f"expected PUBACK, got packet type {kind}")
        writer.write(bytes([0xE0, 0]))
        await writer.drain()
    finally:
        writer.close()
        with suppress(Exception):
            await writer.wait_closed()


async def one_pairing(
    client: httpx.AsyncClient, headers: dict[str, str], mqtt_port: int, poll_s: float, limit_s: float
) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/pairings", json={"name": f"bench-{uuid.uuid4().hex[:10]}"}, headers=headers
    )
    response.raise_for_status()
    body = response.json()
    await device_pairs(mqtt_port, body["accessToken"], body["pairKey"])
    deadline = started + limit_s
    while True:
        state = (await client.get(f"/pairings/{body['pairingId']}", headers=headers)).json()["state"]
        if state == "completed":
            return time.perf_counter() - started
        if state not in {"pending", "device_connected"} or time.perf_counter() > deadline:
            raise RuntimeError(f"pairing ended {state}")
        await asyncio.sleep(poll_s)


async def user_headers(client: httpx.AsyncClient) -> dict[str, str]:
    email, password = f"bench-{uuid.uuid4().hex[:12]}@example.com", secrets.token_urlsafe(16)
    (await client.post("/auth/signup", json={"email": email, "password": password})).raise_for_status()
    login = await client.post("/auth/login", json={"email": email, "password": password})
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


async def run(args: argparse.Namespace) -> int:
    db_name = f"bench_pairing_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    db_url = make_url(ADMIN_URL).set(database=db_name).render_as_string(hide_password=False)
    prefix = f"bench-pairing-{uuid.uuid4().hex[:8]}:"
    redis: Redis[Any] = Redis.from_url(REDIS_URL)
    try:
        await asyncio.to_thread(upgrade, db_url)
        with Emulator().run_in_thread() as emu:
            settings = Settings(
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
                    "pairing_watch_interval_s": args.watch_s,
                },
                log={"level": "ERROR"},  # type: ignore[arg-type]
            )
            app = create_app(settings)
            async with app.lifespan():
                transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 40000))
                async with httpx.AsyncClient(transport=transport, base_url="http://petit.bench") as client:
                    users = [await user_headers(client) for _ in range(args.concurrency)]
                    queue: asyncio.Queue[int] = asyncio.Queue()
                    for i in range(args.devices):
                        queue.put_nowait(i)
                    latencies: list[float] = []
                    errors: list[str] = []

                    async def lane(headers: dict[str, str]) -> None:
                        while not queue.empty():
                            queue.get_nowait()
                            try:
                                latencies.append(
                                    await one_pairing(
                                        client, headers, emu.mqtt_port, args.poll_s, args.limit_s
                                    )
                                )
                            except Exception as exc:
                                errors.append(f"{type(exc).__name__}: {exc}")

                    wall = time.perf_counter()
                    await asyncio.gather(*(lane(h) for h in users))
                    wall = time.perf_counter() - wall
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
        print(
            f"pairings={args.devices} concurrency={args.concurrency} "
            f"watch={args.watch_s}s poll={args.poll_s}s "
            f"completed={len(latencies)} errors={len(errors)} wall={wall:.1f}s "
            f"rate={len(latencies) / wall:.1f}/s p50={statistics.median(ordered) * 1000:.0f}ms "
            f"p99={p99 * 1000:.0f}ms max={ordered[-1] * 1000:.0f}ms"
        )
        for error in errors[:5]:
            print("  error:", error)
        return 0 if not errors else 1
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()  # type: ignore[attr-defined]
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        await admin.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument(
        "--concurrency", type=int, default=50, help="pairings in flight at once (one user each)"
    )
    parser.add_argument("--poll-s", type=float, default=0.25, help="how often the app polls GetPairing")
    parser.add_argument("--watch-s", type=float, default=1.0, help="petit's pairing watcher interval")
    parser.add_argument("--limit-s", type=float, default=60.0, help="give up on one pairing after this long")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parse_args())))
