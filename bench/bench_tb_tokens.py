"""ThingsBoard logins and refreshes under load, and the adapter's read overhead.

Part 1 (tokens): W simulated petit workers (``ThingsBoardClient`` instances sharing one Redis key
prefix, as the processes of one deployment do) each keep C calls in flight for D seconds against the
emulator, whose JWTs live L seconds. The emulator's own auth endpoints count logins and refreshes; the
goal is one login in total and about one refresh per token lifetime, whatever W and C.

Part 2 (overhead): the latest-telemetry read through the adapter (``latest_readings``: event loop -> thread
pool -> RestClientCE -> mapping) against the same read straight from RestClientCE, interleaved A/B in one run;
p50 and p99 ratios.

    uv run python bench/bench_tb_tokens.py --workers 4 --concurrency 16 --lifetime 3 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import threading
import time
import uuid
from typing import Any

import httpx
from redis.asyncio import Redis
from tb_rest_client.models.models_ce import DeviceId
from tb_rest_client.rest_client_ce import RestClientCE

from petit.thingsboard import RedisTokenStore, ThingsBoardClient, ThingsBoardConfig
from thingsboard_emulator import Emulator


class AuthCounter:
    """Wraps the emulator core's login/refresh: what ThingsBoard itself would have seen."""

    def __init__(self, emu: Emulator) -> None:
        self.logins = 0
        self.refreshes = 0
        self._lock = threading.Lock()
        for name in ("login", "refresh"):
            original = getattr(emu.core, name)

            def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
                with self._lock:
                    if _name == "login":
                        self.logins += 1
                    else:
                        self.refreshes += 1
                return _original(*args)

            setattr(emu.core, name, counted)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def token_phase(emu: Emulator, redis: Redis, args: argparse.Namespace) -> dict[str, Any]:
    counter = AuthCounter(emu)
    prefix = f"bench:tb:{uuid.uuid4().hex}"
    config = ThingsBoardConfig(
        url=emu.http_url,
        username="tenant@thingsboard.org",
        password="tenant",
        mqtt_port=emu.mqtt_port,
        key_prefix=prefix,
        max_workers=args.concurrency,
    )
    workers = [ThingsBoardClient(config, token_store=RedisTokenStore(redis)) for _ in range(args.workers)]
    calls = errors = 0
    deadline = time.monotonic() + args.duration

    async def loop(client: ThingsBoardClient) -> None:
        nonlocal calls, errors
        while time.monotonic() < deadline:
            try:
                await client.check_health()
                calls += 1
            except Exception:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*(loop(w) for w in workers for _ in range(args.concurrency)))
    elapsed = time.monotonic() - started
    for w in workers:
        await w.aclose()
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    return {
        "workers": args.workers,
        "in_flight_per_worker": args.concurrency,
        "duration_s": round(elapsed, 2),
        "token_lifetime_s": args.lifetime,
        "lifetimes_spanned": round(elapsed / args.lifetime, 2),
        "calls": calls,
        "errors": errors,
        "calls_per_s": round(calls / elapsed, 1),
        "tb_logins": counter.logins,
        "tb_refreshes": counter.refreshes,
        # A token is renewed when a quarter of its life is left (the adapter's margin for short lifetimes).
        "refreshes_expected_max": math.ceil(elapsed / (0.75 * args.lifetime)),
        "client_logins": sum(w.token_stats.logins for w in workers),
        "client_refreshes": sum(w.token_stats.refreshes for w in workers),
    }


async def overhead_phase(emu: Emulator, redis: Redis, args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"bench:tb:{uuid.uuid4().hex}"
    config = ThingsBoardConfig(
        url=emu.http_url,
        username="tenant@thingsboard.org",
        password="tenant",
        mqtt_port=emu.mqtt_port,
        key_prefix=prefix,
    )
    client = ThingsBoardClient(config, token_store=RedisTokenStore(redis))
    device = await client.create_device(f"bench-{uuid.uuid4().hex[:8]}", owner_id=None)
    token = (await client.get_credentials(device.id)).access_token
    async with httpx.AsyncClient(base_url=emu.http_url) as http:
        response = await http.post(f"/api/v1/{token}/telemetry", json={"temperature": 21.5, "humidity": 40})
        response.raise_for_status()

    direct = RestClientCE(emu.http_url)
    direct.login("tenant@thingsboard.org", "tenant")
    ref = DeviceId(str(device.id), "DEVICE")
    keys = ["temperature", "humidity"]

    def read_direct() -> float:
        t0 = time.perf_counter()
        direct.get_latest_timeseries(ref, keys=",".join(keys), use_strict_data_types=True)
        return time.perf_counter() - t0

    for _ in range(50):  # warm both paths: connection pools, token cache
        await client.latest_readings(device.id, keys)
        await asyncio.to_thread(read_direct)

    adapter_s: list[float] = []
    direct_s: list[float] = []
    for _ in range(args.samples):
        t0 = time.perf_counter()
        await client.latest_readings(device.id, keys)
        adapter_s.append(time.perf_counter() - t0)
        direct_s.append(await asyncio.to_thread(read_direct))
    await client.delete_device(device.id)
    await client.aclose()
    keys_left = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    if keys_left:
        await redis.delete(*keys_left)

    def ms(v: float) -> float:
        return round(v * 1000, 3)

    return {
        "samples": args.samples,
        "adapter_p50_ms": ms(statistics.median(adapter_s)),
        "adapter_p99_ms": ms(percentile(adapter_s, 0.99)),
        "direct_p50_ms": ms(statistics.median(direct_s)),
        "direct_p99_ms": ms(percentile(direct_s, 0.99)),
        "p50_ratio": round(statistics.median(adapter_s) / statistics.median(direct_s), 3),
        "p99_ratio": round(percentile(adapter_s, 0.99) / percentile(direct_s, 0.99), 3),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    redis = Redis.from_url(os.environ.get("PETIT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        with Emulator(jwt_expiration_s=args.lifetime).run_in_thread() as emu:
            tokens = await token_phase(emu, redis, args)
        # Default token lifetime here: the direct client has no refresh logic of its own.
        with Emulator().run_in_thread() as emu:
            overhead = await overhead_phase(emu, redis, args)
    finally:
        await redis.aclose()
    return {"tokens": tokens, "latest_telemetry_overhead": overhead}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="simulated petit workers (clients sharing Redis)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight per worker")
    parser.add_argument("--lifetime", type=int, default=3, help="emulator JWT lifetime, seconds")
    parser.add_argument("--duration", type=float, default=10.0, help="token phase length, seconds")
    parser.add_argument("--samples", type=int, default=1000, help="A/B samples for the overhead phase")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    result = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps(result))
    else:
        for section, values in result.items():
            print(section)
            for key, value in values.items():
                print(f"  {key:24} {value}")
