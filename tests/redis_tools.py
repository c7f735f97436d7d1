"""Redis helpers for tests that share one Redis server with the other xdist worker.

Server-wide commands (``CLIENT KILL TYPE pubsub``, ``FLUSHALL``) would reach the other worker's tests too;
these act on this test's own connections only.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis


class Stoppable(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


async def kill_pubsub_connections(admin: Redis, name: str) -> int:
    """Kill the pub/sub connections of clients created with ``client_name=name``; how many there were."""
    listing = await admin.execute_command("CLIENT", "LIST", "TYPE", "pubsub")
    text = listing.decode() if isinstance(listing, bytes) else str(listing)
    killed = 0
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if fields.get("name") == name:
            await admin.execute_command("CLIENT", "KILL", "ID", fields["id"])
            killed += 1
    return killed


async def slowest_stop(make: Callable[[], Stoppable], *, after_s: float, rounds: int = 30) -> float:
    """Start a reader from ``make()`` and stop it ``after_s`` later, ``rounds`` times; the slowest stop, in s.

    redis-py can swallow a cancellation that lands while a pub/sub connection is being made; a reader that
    then loops on ``get_message(timeout=...)`` never ends, nor does a shutdown waiting for it."""
    slowest = 0.0
    for _ in range(rounds):
        reader = make()
        await reader.start()
        await asyncio.sleep(after_s)
        started = time.monotonic()
        await asyncio.wait_for(reader.aclose(), 3)
        slowest = max(slowest, time.monotonic() - started)
    return slowest
