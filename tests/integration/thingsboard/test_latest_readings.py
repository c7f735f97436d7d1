"""latest_readings, the hot read: typed values, not-found, one re-login on a rejected token, typed faults."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import jwt
import pytest

from petit.thingsboard import (
    ThingsBoardClient,
    ThingsBoardNotFoundError,
    ThingsBoardRateLimitedError,
    ThingsBoardUnavailableError,
)
from petit.thingsboard.models import Reading

if TYPE_CHECKING:
    import httpx
    from redis.asyncio import Redis

    from tests.integration.thingsboard.conftest import LoginCounter
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

ClientFactory = Callable[..., ThingsBoardClient]
Names = Callable[[str], str]


async def _reporting_device(tb: ThingsBoardClient, names: Names, device_http: httpx.AsyncClient) -> uuid.UUID:
    device = await tb.create_device(names("loop"), owner_id=None)
    token = (await tb.get_credentials(device.id)).access_token
    sample = {"ts": 1_700_000_000_000, "values": {"t": 21.5, "on": True}}
    assert (await device_http.post(f"/api/v1/{token}/telemetry", json=sample)).status_code == 200
    return device.id


async def test_values_come_back_typed_and_missing_keys_are_none(
    tb: ThingsBoardClient, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    device_id = await _reporting_device(tb, unique_name, device_http)
    latest = await tb.latest_readings(device_id, ["t", "on", "never"])
    assert latest == {
        "t": Reading(1_700_000_000_000, 21.5),
        "on": Reading(1_700_000_000_000, True),
        "never": None,
    }


async def test_unknown_device_is_not_found(tb: ThingsBoardClient) -> None:
    with pytest.raises(ThingsBoardNotFoundError):
        await tb.latest_readings(uuid.uuid4(), ["t"])


async def test_rejected_shared_token_is_replaced_once(
    tb: ThingsBoardClient,
    make_client: ClientFactory,
    tb_redis: tuple[Redis, str],
    login_counter: LoginCounter,
    unique_name: Names,
    device_http: httpx.AsyncClient,
) -> None:
    device_id = await _reporting_device(tb, unique_name, device_http)
    logins_before = login_counter.logins
    # A token TB no longer accepts (TB restarted with a new key) whose exp says it is valid, in every cache.
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
    reader = make_client()  # a fresh worker: no token in its memory, only the shared one
    assert (await reader.latest_readings(device_id, ["t"]))["t"] is not None
    assert login_counter.logins == logins_before + 1


async def test_server_errors_and_throttling_are_typed(
    make_client: ClientFactory, emulator: Emulator, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    client = make_client(request_timeout_s=1.0)
    device_id = await _reporting_device(client, unique_name, device_http)
    emulator.faults.rest_errors(status=503)
    with pytest.raises(ThingsBoardUnavailableError):
        await client.latest_readings(device_id, ["t"])
    emulator.faults.rest_errors(status=429)
    with pytest.raises(ThingsBoardRateLimitedError):
        await client.latest_readings(device_id, ["t"])
    emulator.faults.clear()
    assert (await client.latest_readings(device_id, ["t"]))["t"] is not None


async def test_slow_thingsboard_fails_within_the_timeout(
    make_client: ClientFactory, emulator: Emulator, unique_name: Names, device_http: httpx.AsyncClient
) -> None:
    client = make_client(request_timeout_s=0.5)
    device_id = await _reporting_device(client, unique_name, device_http)
    emulator.faults.rest_slow(delay_s=3.0)
    started = time.monotonic()
    with pytest.raises(ThingsBoardUnavailableError):
        await client.latest_readings(device_id, ["t"])
    assert time.monotonic() - started < 0.5 + 0.5  # the timeout plus scheduling slack


async def test_nothing_listening_is_unavailable_and_not_sent(make_client: ClientFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(url=f"http://127.0.0.1:{port}", request_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ThingsBoardUnavailableError):
        await client.latest_readings(uuid.uuid4(), ["t"])
    assert time.monotonic() - started < 1.0 + 0.5
