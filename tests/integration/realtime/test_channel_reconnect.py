"""The process's channel connection to Redis is cut: streams go on, and what was published meanwhile arrives.

Redis drops subscribers when it restarts, fails over or an operator kills clients. The connection is cut
here with ``CLIENT KILL ID`` on this test's own named connections only (the server is shared with the other
test worker).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from petit.app import create_app
from petit.realtime.channels import RedisChannels
from petit.realtime.config import StreamLimits
from petit.runtime import runtime_of
from tests.integration.realtime.conftest import authed_socket, give_device, new_account, recv_json, run_server
from tests.redis_tools import kill_pubsub_connections, slowest_stop

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from websockets.asyncio.client import ClientConnection

    from petit.settings import Settings

pytestmark = pytest.mark.integration


def _reading(device_id: uuid.UUID, key: str) -> dict[str, object]:
    readings = {key: {"ts": 1, "value": key}}
    return {"type": "deviceData", "data": {"deviceId": str(device_id), "readings": readings}}


async def test_a_cut_channel_connection_reconnects_and_catches_up(
    tb_settings: Settings, redis_client: Redis, redis_url: str
) -> None:
    name = f"petit-test-channels-{uuid.uuid4().hex[:12]}"
    named = Redis.from_url(redis_url, client_name=name)
    app = create_app(tb_settings, redis=named, stream_limits=StreamLimits(recheck_interval_s=0.1))
    try:
        async with run_server(app) as server:
            hub = runtime_of(app).hub
            account = await new_account(server)
            device_id, _ = await give_device(server, account)
            async with authed_socket(server, account.access) as ws:
                await hub.publish_device_event(device_id, _reading(device_id, "before"))
                assert await _keys_arriving(ws, 1) == ["before"]

                # The revocation view's subscription shares the client name; both must come back.
                assert await kill_pubsub_connections(redis_client, name) >= 1
                # Published at once, while the connection is being made again: only the journal has them.
                # (A session merges updates a slow client has not taken yet: count keys, not messages.)
                for key in ("gap-1", "gap-2", "gap-3"):
                    await hub.publish_device_event(device_id, _reading(device_id, key))
                assert sorted(await _keys_arriving(ws, 3)) == ["gap-1", "gap-2", "gap-3"]
                assert hub.channel_connects == 2
                assert hub.caught_up >= 1

                # Live delivery again on the new connection, and nothing delivered twice.
                await hub.publish_device_event(device_id, _reading(device_id, "after"))
                assert await _keys_arriving(ws, 1) == ["after"]
                with pytest.raises(TimeoutError):
                    await _keys_arriving(ws, 1, within=0.5)
    finally:
        await named.aclose()


async def _keys_arriving(ws: ClientConnection, count: int, within: float = 15.0) -> list[str]:
    """The reading keys of the next deviceData messages, until ``count`` keys came (TimeoutError if not)."""
    deadline = time.monotonic() + within
    keys: list[str] = []
    while len(keys) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        message = await recv_json(ws, remaining)
        if message.get("type") == "deviceData":
            keys += list(message["data"]["readings"])
    return keys


async def test_without_redis_subscribing_does_not_wait_and_closing_is_prompt() -> None:
    # A closed port: the reader retries in the background; streams starting meanwhile are not held up.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    absent = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
    channels = RedisChannels(absent, backoff_max_s=0.2)
    await channels.start()
    try:
        started = time.monotonic()
        await channels.subscribe("nowhere", lambda _: None)
        await channels.unsubscribe("nowhere")
        assert time.monotonic() - started < 1.0
        assert not channels.connected.is_set()
        assert channels.connects == 0
    finally:
        started = time.monotonic()
        await channels.aclose()
        assert time.monotonic() - started < 1.0
        await absent.aclose()


@asynccontextmanager
async def _slow_uplink(target: tuple[str, int], delay_s: float) -> AsyncIterator[int]:
    """A TCP proxy to ``target`` that holds every chunk the client sends for ``delay_s`` (in order)."""

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay: float) -> None:
        try:
            while data := await source.read(65536):
                await asyncio.sleep(delay)
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(reader, upstream_writer, delay_s), pipe(upstream_reader, writer, 0))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_subscription_is_in_place_when_subscribe_returns(
    redis_client: Redis, redis_url: str, redis_prefix: str
) -> None:
    # What the hub relies on before it asks ThingsBoard to watch a device: nothing published after
    # subscribe() returns is missed, even from another connection an instant later. The channels' own
    # connection is slowed down, so a subscribe that did not wait for Redis's confirmation loses the race.
    url = urlsplit(redis_url)
    async with _slow_uplink((url.hostname or "127.0.0.1", url.port or 6379), 0.05) as port:
        slow = Redis.from_url(url._replace(netloc=f"127.0.0.1:{port}").geturl())
        channels = RedisChannels(slow, home_prefix=redis_prefix)
        await channels.start()
        got: list[bytes] = []
        try:
            deadline = time.monotonic() + 5
            while not channels.connected.is_set():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            for n in range(10):
                channel = f"{redis_prefix}rt:device:{n}"
                await channels.subscribe(channel, got.append)
                await redis_client.publish(channel, str(n).encode())
            deadline = time.monotonic() + 5
            while len(got) < 10:
                assert time.monotonic() < deadline, f"{len(got)} of 10 arrived"
                await asyncio.sleep(0.01)
            assert sorted(int(x) for x in got) == list(range(10))
        finally:
            await channels.aclose()
            await slow.aclose()


@pytest.mark.parametrize("after_s", [0.0, 0.001, 0.005])
async def test_the_reader_stops_at_once_even_while_connecting(
    redis_client: Redis, redis_prefix: str, after_s: float
) -> None:
    # Stopped right after starting, many times over: the teardown hangs CI saw (tests/redis_tools.py).
    channels = functools.partial(RedisChannels, redis_client, home_prefix=redis_prefix)
    assert await slowest_stop(channels, after_s=after_s) < 1.0
