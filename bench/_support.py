"""What the benchmarks share: the admin database URL, a free loopback port, waiting for a petit process."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from contextlib import suppress
from typing import TYPE_CHECKING

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    import subprocess

#: The same admin URL the test suite uses: benchmarks create (and drop) databases of their own with it.
ADMIN_URL = os.environ.get("PETIT_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


async def drop_bench_state(db_name: str, redis_url: str, key_prefix: str) -> None:
    """Remove what a benchmark run left: its database and its Redis keys."""
    await admin_execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    redis = Redis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{key_prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def admin_execute(statement: str) -> None:
    """Run one statement outside a transaction (``CREATE DATABASE`` cannot run inside one)."""
    engine = create_async_engine(ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_live(url: str, process: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    """Until the server at ``url`` answers ``/health/live``; fails fast if the process dies first."""
    deadline = time.monotonic() + deadline_s
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the server exited with {process.returncode}")
            with suppress(httpx.HTTPError):
                if (await http.get("/health/live")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not become live")
