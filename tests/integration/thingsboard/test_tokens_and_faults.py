"""Token sharing across workers through Redis, and behaviour while ThingsBoard is slow, down or failing."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import jwt
import pytest

from petit.thingsboard import (
    ThingsBoardClient,
    ThingsBoardRateLimitedError,
    ThingsBoardUnavailableError,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tests.integration.thingsboard.conftest import LoginCounter
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

ClientFactory = Callable[..., ThingsBoardClient]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.02)


async def _health_raises(client: ThingsBoardClient) -> bool:
    try:
        await client.check_health()
    except ThingsBoardUnavailableError:
        return True
    return False


async def _health_ok(client: ThingsBoardClient) -> bool:
    return not await _health_raises(client)


async def test_workers_share_one_login(make_client: ClientFactory, login_counter: LoginCounter) -> None:
    workers = [make_client() for _ in range(3)]
    await asyncio.gather(*(workers[i % 3].check_health() for i in range(90)))
    assert login_counter.logins == 1
    assert sum(w.token_stats.logins for w in workers) == 1


@pytest.mark.parametrize("emulator", [{"jwt_expiration_s": 2}], indirect=True)
async def test_one_refresh_per_token_lifetime(
    make_client: ClientFactory, login_counter: LoginCounter
) -> None:
    workers = [make_client() for _ in range(2)]
    calls = 0
    started = time.monotonic()
    while time.monotonic() - started < 3.2:  # a little over 1.5 lifetimes of 2 s
        await asyncio.gather(*(w.check_health() for w in workers for _ in range(5)))
        calls += 10
    assert calls > 50
    assert login_counter.logins == 1
    # The margin is a quarter of the lifetime: refreshes near 1.5 s and 3.0 s.
    assert 1 <= login_counter.refreshes <= 3
    assert sum(w.token_stats.refreshes for w in workers) == login_counter.refreshes


async def test_token_lives_in_redis_without_secrets(
    tb: ThingsBoardClient, tb_redis: tuple[Redis, str]
) -> None:
    redis, prefix = tb_redis
    await tb.check_health()
    raw = await redis.get(f"{prefix}:token:tenant")
    assert raw is not None
    stored = json.loads(raw)
    assert set(stored) == {"access", "refresh", "access_exp", "refresh_exp", "issued_at"}
    assert "tenant" not in json.dumps({k: v for k, v in stored.items() if k not in ("access", "refresh")})
    assert await redis.pttl(f"{prefix}:token:tenant") > 0


async def test_rejected_shared_token_is_replaced(
    tb: ThingsBoardClient, tb_redis: tuple[Redis, str], login_counter: LoginCounter
) -> None:
    # A token TB no longer accepts (say, TB restarted with a new key) but whose exp says it is valid.
    redis, prefix = tb_redis
    now = int(time.time())
    forged = jwt.encode({"sub": "tenant@thingsboard.org", "iat": now, "exp": now + 3600}, "x" * 64, "HS512")
    pair = {
        "access": forged,
        "refresh": None,
        "access_exp": now + 3600,
        "refresh_exp": None,
        "issued_at": now,
    }
    await redis.set(f"{prefix}:token:tenant", json.dumps(pair))
    await tb.check_health()
    assert login_counter.logins == 1


async def test_slow_thingsboard_fails_within_the_timeout_and_recovers(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    client = make_client(request_timeout_s=0.5)
    await client.check_health()
    emulator.faults.rest_slow(delay_s=3.0)
    started = time.monotonic()
    with pytest.raises(ThingsBoardUnavailableError):
        await client.check_health()
    assert time.monotonic() - started < 0.5 + 0.5  # the timeout plus scheduling slack
    emulator.faults.clear()
    await _eventually(lambda: _health_ok(client))


async def test_unreachable_thingsboard_fails_fast_and_recovers(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    client = make_client(request_timeout_s=0.5)
    await client.check_health()
    emulator.faults.rest_unavailable()
    await _eventually(lambda: _health_raises(client))
    started = time.monotonic()
    with pytest.raises(ThingsBoardUnavailableError):
        await client.check_health()
    assert time.monotonic() - started < 0.5 + 0.5  # the timeout plus scheduling slack
    emulator.faults.clear()
    await _eventually(lambda: _health_ok(client))


async def test_server_errors_and_throttling_are_typed(make_client: ClientFactory, emulator: Emulator) -> None:
    client = make_client(request_timeout_s=1.0)
    await client.check_health()
    emulator.faults.rest_errors(status=503)
    with pytest.raises(ThingsBoardUnavailableError):
        await client.check_health()
    emulator.faults.rest_errors(status=429)
    with pytest.raises(ThingsBoardRateLimitedError):
        await client.check_health()
    emulator.faults.clear()
    await client.check_health()


async def test_nothing_listening_is_unavailable_and_retry_safe(make_client: ClientFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(url=f"http://127.0.0.1:{port}", request_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ThingsBoardUnavailableError) as caught:
        await client.check_health()
    assert not caught.value.request_sent
    assert time.monotonic() - started < 1.0 + 0.5
