"""What petit's long-lived connections do when they are lost: wait a jittered, doubling delay, and close a
dead pub/sub connection without letting it hold anything up."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub


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
