"""What petit's long-lived connections do when they are lost or stopped: wait a jittered, doubling delay,
close a dead pub/sub connection without letting it hold anything up, and stop the task that ran them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)


class Backoff:
    """Full jitter: every petit process lost the server at once, and they should not return in step."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._delay_s = initial_s

    def reset(self) -> None:
        """The connection worked: the next loss starts from the shortest delay again."""
        self._delay_s = self._initial_s

    async def wait(self) -> None:
        await asyncio.sleep(random.uniform(0, self._delay_s))  # noqa: S311 - jitter, not a secret
        self._delay_s = min(self._max_s, self._delay_s * 2)


async def close_pubsub(pubsub: PubSub, *, within_s: float = 1.0) -> None:
    """Bounded and quiet: a dead connection must not hold up a reconnect or the app's shutdown."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(within_s):
            await pubsub.aclose()  # type: ignore[attr-defined]


async def stop_task(task: asyncio.Task[Any], *, nudge_every_s: float | None = None) -> None:
    """Cancel ``task`` and wait until it has ended, without swallowing a cancellation aimed at the caller.

    ``nudge_every_s`` repeats the cancellation while the task runs on, for tasks on redis-py's pub/sub: it may
    swallow a cancellation that lands while a connection is being made, and the task would then read with a
    timeout forever. Tasks that use the database get one cancellation: SQLAlchemy cleans a connection up
    after it, and a second one cut into that cleanup and left aiosqlite waiting on a thread that had gone."""
    task.cancel()
    while not task.done():
        await asyncio.wait({task}, timeout=nudge_every_s)
        if not task.done():
            task.cancel()
    if not task.cancelled() and task.exception() is not None:
        log.warning("task.failed task=%s", task.get_name(), exc_info=task.exception())
