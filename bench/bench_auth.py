"""Login and refresh throughput of petit on real PostgreSQL and Redis (loopback only, bounded request count).

By default it starts its own petit (`petit run`, production settings and production argon2 parameters) on a
fresh PostgreSQL database and a private Redis key prefix, measures, and cleans up:

    uv run python bench/bench_auth.py                      # 400 logins, 2000 refreshes, concurrency 16
    uv run python bench/bench_auth.py --workers 2 --logins 200
    uv run python bench/bench_auth.py --url http://127.0.0.1:8000   # an already running petit

Servers come from PETIT_TEST_DATABASE_URL (admin URL) and PETIT_TEST_REDIS_URL, like the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import httpx
from _support import ADMIN_URL, admin_execute, drop_bench_state, free_port, wait_live
from sqlalchemy import make_url

from petit.db.migrate import upgrade
from petit.settings import AuthSettings

REDIS_URL = os.environ.get("PETIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Result:
    name: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0

    def row(self) -> str:
        n = len(self.latencies)
        q = statistics.quantiles(self.latencies, n=100) if n >= 2 else [0.0] * 99
        return (
            f"{self.name:<8} n={n:<5} conc={self.concurrency:<3} {n / self.wall_s:8.1f} req/s   "
            f"p50 {q[49] * 1000:7.1f} ms   p99 {q[98] * 1000:7.1f} ms   errors {self.errors}"
        )


async def _timed(result: Result, call: object, expected: int = 200) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response: httpx.Response = await call  # type: ignore[misc]
    except httpx.HTTPError:
        result.errors += 1
        return None
    result.latencies.append(time.perf_counter() - started)
    if response.status_code != expected:
        result.errors += 1
    return response


async def run_bench(url: str, *, users: int, logins: int, refreshes: int, concurrency: int) -> list[Result]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        password = secrets.token_urlsafe(16)
        emails = [f"bench-{uuid.uuid4().hex[:10]}@example.com" for _ in range(users)]
        signup = Result("signup", concurrency)
        gate = asyncio.Semaphore(concurrency)

        async def do_signup(email: str) -> None:
            async with gate:
                await _timed(
                    signup, http.post("/auth/signup", json={"email": email, "password": password}), 201
                )

        started = time.perf_counter()
        await asyncio.gather(*(do_signup(e) for e in emails))
        signup.wall_s = time.perf_counter() - started

        login = Result("login", concurrency)
        tokens: list[str] = []

        async def do_login(i: int) -> None:
            async with gate:
                body = {"email": emails[i % users], "password": password}
                response = await _timed(login, http.post("/auth/login", json=body))
                if response is not None and response.status_code == 200 and len(tokens) < concurrency:
                    tokens.append(response.json()["refreshToken"])

        started = time.perf_counter()
        await asyncio.gather(*(do_login(i) for i in range(logins)))
        login.wall_s = time.perf_counter() - started

        # Refresh tokens rotate, so each chain refreshes sequentially; chains run side by side.
        refresh = Result("refresh", len(tokens))
        per_chain = max(1, refreshes // max(1, len(tokens)))

        async def chain(token: str) -> None:
            for _ in range(per_chain):
                response = await _timed(refresh, http.post("/auth/refresh", json={"refreshToken": token}))
                if response is None or response.status_code != 200:
                    return
                token = response.json()["refreshToken"]

        started = time.perf_counter()
        await asyncio.gather(*(chain(t) for t in tokens))
        refresh.wall_s = time.perf_counter() - started
        return [signup, login, refresh]


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="benchmark an already running petit instead of starting one")
    parser.add_argument("--workers", type=int, default=1, help="petit worker processes (own server only)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--refreshes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--argon2-memory-kib", type=int, help="override PETIT_AUTH__ARGON2_MEMORY_COST_KIB")
    parser.add_argument("--argon2-time-cost", type=int, help="override PETIT_AUTH__ARGON2_TIME_COST")
    args = parser.parse_args()
    # Hard caps keep an accidental huge run from hammering the shared machine.
    bounded = {
        "users": min(args.users, 1000),
        "logins": min(args.logins, 5000),
        "refreshes": min(args.refreshes, 20000),
    }

    if args.url:
        results = await run_bench(args.url, concurrency=args.concurrency, **bounded)
        for r in results:
            print(r.row())
        return 0

    db_name = f"petit_bench_{uuid.uuid4().hex[:10]}"
    await admin_execute(f'CREATE DATABASE "{db_name}"')
    db_url = make_url(ADMIN_URL).set(database=db_name).render_as_string(hide_password=False)
    prefix = f"petit-bench:{uuid.uuid4().hex}:"
    process = None
    try:
        await asyncio.to_thread(upgrade, db_url)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PETIT_")}
        env.update(
            {
                "PETIT_ENVIRONMENT": "production",
                "PETIT_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                "PETIT_DB__URL": db_url,
                "PETIT_REDIS__URL": REDIS_URL,
                "PETIT_REDIS__KEY_PREFIX": prefix,
                # The benchmark is one client hammering a few accounts: lift throttling out of the way.
                "PETIT_AUTH__LOGIN_MAX_PER_ACCOUNT": "1000000",
                "PETIT_AUTH__LOGIN_MAX_PER_IP": "1000000",
                "PETIT_LOG__LEVEL": "WARNING",
            }
        )
        if args.argon2_memory_kib:
            env["PETIT_AUTH__ARGON2_MEMORY_COST_KIB"] = str(args.argon2_memory_kib)
        if args.argon2_time_cost:
            env["PETIT_AUTH__ARGON2_TIME_COST"] = str(args.argon2_time_cost)
        command = [sys.executable, "-m", "petit", "run", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen([*command, "--workers", str(args.workers)], env=env)  # noqa: ASYNC220
        url = f"http://127.0.0.1:{port}"
        await wait_live(url, process)
        defaults = AuthSettings()
        auth = AuthSettings(
            argon2_time_cost=args.argon2_time_cost or defaults.argon2_time_cost,
            argon2_memory_cost_kib=args.argon2_memory_kib or defaults.argon2_memory_cost_kib,
        )
        print(
            f"petit at {url}, {args.workers} worker(s), PostgreSQL + Redis on loopback, argon2id "
            f"t={auth.argon2_time_cost} m={auth.argon2_memory_cost_kib}KiB p={auth.argon2_parallelism}, "
            f"{os.cpu_count()} CPUs"
        )
        results = await run_bench(url, concurrency=args.concurrency, **bounded)
        for r in results:
            print(r.row())
    finally:
        if process is not None:
            process.terminate()
            await asyncio.to_thread(process.wait, 15)
        await drop_bench_state(db_name, REDIS_URL, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
