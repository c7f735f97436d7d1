"""Pub/sub between petit processes: Redis pub/sub that outlives a lost connection, or one process's memory.

Redis drops a subscriber's connection when it restarts, fails over, or an operator kills clients; a reader
that dies with the connection leaves every stream of the process silent until a restart. This reader
reconnects with jittered backoff, subscribes again to every channel it serves, and lets its owner catch up
(``on_reconnect``) before it reads anything new, so nothing published during the gap is missed for good as
long as the owner can find it (the hub replays it from the journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from petit.lib.reconnect import Backoff, close_pubsub, stop_task

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)


class Channels(Protocol):
    #: Connections made so far (more than one: the connection was lost and made again).
    connects: int

    async def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> None:
        """Deliver what is published on ``channel`` to ``handler`` (one handler per channel)."""

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, data: bytes) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class MemoryChannels:
    """One process, no Redis: delivery on the next loop iteration, as a subscriber elsewhere would see it."""

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        self.connects = 0

    async def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> None:
        self._handlers[channel] = handler

    async def unsubscribe(self, channel: str) -> None:
        self._handlers.pop(channel, None)

    async def publish(self, channel: str, data: bytes) -> None:
        handler = self._handlers.get(channel)
        if handler is not None:
            asyncio.get_running_loop().call_soon(_deliver, channel, handler, data)

    async def start(self) -> None:
        self.connects = 1

    async def aclose(self) -> None:
        self._handlers.clear()


class RedisChannels:
    """Every channel of this process on one Redis pub/sub connection, re-established when it is lost."""

    def __init__(
        self,
        redis: Redis[Any],
        *,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        ping_interval_s: float = 5.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        home_prefix: str = "",
    ) -> None:
        self._redis = redis
        self._on_reconnect = on_reconnect
        self._ping_interval_s = ping_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        # A channel of this process alone: the connection subscribes to it first, so it exists (and can be
        # pinged) before any stream asks for a channel.
        self._home = f"{home_prefix}rt:process:{uuid.uuid4().hex}"
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        self._pubsub: PubSub | None = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        # redis-py's PubSub opens its connection on the first (un)subscribe: two at once would open two.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        #: Connections made (the first included); tests and operators read it.
        self.connects = 0

    async def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> None:
        """Returns once Redis confirmed the subscription (or could not be reached): whatever is published on
        ``channel`` from then on reaches ``handler``, so a watch started after it misses nothing."""
        self._handlers[channel] = handler
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmed
        try:
            if await self._command("subscribe", channel):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._ping_interval_s):
                        await confirmed
        finally:
            if self._confirmations.get(channel) is confirmed:
                del self._confirmations[channel]

    async def unsubscribe(self, channel: str) -> None:
        if self._handlers.pop(channel, None) is not None:
            await self._command("unsubscribe", channel)

    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(channel, data)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="realtime-channels")

    async def aclose(self) -> None:
        if self._task is not None:
            await stop_task(self._task, nudge_every_s=0.1)
            self._task = None

    async def _command(self, name: str, channel: str) -> bool:
        """Send an (un)subscribe on the current connection; False when there is none or it failed."""
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None:
                return False  # not connected: the next connection subscribes to everything in _handlers
            try:
                # Bounded: callers hold the hub's lock, and a hung Redis must not freeze every stream's start.
                async with asyncio.timeout(self._ping_interval_s):
                    await getattr(pubsub, name)(channel)
            except Exception as exc:  # noqa: BLE001 - the reader sees the same loss and reconnects
                failure = {"command": name, "error": type(exc).__name__}
                log.info("realtime.channels.command_failed", extra=failure)
                return False
            return True

    async def _run(self) -> None:
        backoff = Backoff(self._backoff_initial_s, self._backoff_max_s)
        while True:
            pubsub = self._redis.pubsub()
            try:
                async with self._lock, asyncio.timeout(self._ping_interval_s):
                    self._pubsub = pubsub
                    await pubsub.subscribe(self._home, *self._handlers)
                self.connects += 1
                if self.connects > 1:
                    log.info("realtime.channels.reconnected", extra={"channels": len(self._handlers)})
                    # Catch up only once Redis has the subscriptions (it answers a ping after them, in
                    # order), and hold what arrives meanwhile until after: older updates first.
                    held = await self._until_pong(pubsub)
                    if self._on_reconnect is not None:
                        await self._on_reconnect()
                    for message in held:
                        self._dispatch(message)
                self.connected.set()
                backoff.reset()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                log.warning("realtime.channels.disconnected", extra={"error": type(exc).__name__})
            finally:
                self.connected.clear()
                self._pubsub = None
                await close_pubsub(pubsub)
            await backoff.wait()

    async def _read(self, pubsub: PubSub) -> None:
        last_heard = next_ping = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_ping:
                # A half-open connection reads nothing forever; an unanswered ping shows it.
                await pubsub.ping()
                next_ping = now + self._ping_interval_s
            if now - last_heard > self._ping_interval_s * 3:
                raise TimeoutError("pub/sub connection silent")
            message = await pubsub.get_message(timeout=self._ping_interval_s)
            if message is None:
                continue
            last_heard = time.monotonic()
            self._dispatch(message)

    async def _until_pong(self, pubsub: PubSub) -> list[dict[str, Any]]:
        held: list[dict[str, Any]] = []
        await pubsub.ping()
        async with asyncio.timeout(self._ping_interval_s * 3):
            while True:
                message = await pubsub.get_message(timeout=self._ping_interval_s)
                if message is None:
                    continue
                if message.get("type") == "pong":
                    return held
                held.append(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind not in {"message", "subscribe"}:
            return
        channel = message.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if kind == "subscribe":
            confirmed = self._confirmations.get(name)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        handler = self._handlers.get(name)
        data = message.get("data")
        if handler is not None and isinstance(data, bytes | str):
            _deliver(name, handler, data.encode() if isinstance(data, str) else data)


def _deliver(channel: str, handler: Callable[[bytes], None], data: bytes) -> None:
    try:
        handler(data)
    except Exception:
        log.exception("realtime.channels.handler_failed", extra={"channel": channel})


__all__ = ["Channels", "MemoryChannels", "RedisChannels"]
