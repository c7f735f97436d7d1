"""Fixtures for the ThingsBoard adapter against the real emulator (HTTP/MQTT on OS-chosen ports) and Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from petit.thingsboard import RedisTokenStore, ThingsBoardClient, ThingsBoardConfig
from thingsboard_emulator import Emulator
from thingsboard_emulator.versions import VERSIONS

TENANT = ("tenant@thingsboard.org", "tenant")


@dataclass
class LoginCounter:
    """Counts what reaches the emulator's auth endpoints: independent of the client's own bookkeeping."""

    logins: int = 0
    refreshes: int = 0

    def attach(self, emu: Emulator) -> None:
        core = emu.core
        for name, counter in (("login", "logins"), ("refresh", "refreshes")):
            original = getattr(core, name)

            def counted(*args: Any, _original: Any = original, _counter: str = counter) -> Any:
                setattr(self, _counter, getattr(self, _counter) + 1)
                return _original(*args)

            setattr(core, name, counted)


@pytest.fixture(params=sorted(VERSIONS))
def tb_version(request: pytest.FixtureRequest) -> str:
    """Every adapter test runs against each ThingsBoard CE version the emulator can be (4.3 and 4.4)."""
    version: str = request.param
    return version


@pytest.fixture
async def emulator(request: pytest.FixtureRequest, tb_version: str) -> AsyncIterator[Emulator]:
    """Options come from indirect parametrisation: ``parametrize("emulator", [{...}], indirect=True)``."""
    options: dict[str, Any] = {"version": tb_version, **getattr(request, "param", {})}
    async with Emulator(**options) as emu:
        yield emu


@pytest.fixture
def login_counter(emulator: Emulator) -> LoginCounter:
    counter = LoginCounter()
    counter.attach(emulator)
    return counter


@pytest.fixture
async def tb_redis() -> AsyncIterator[tuple[Redis, str]]:
    redis = Redis.from_url(os.environ.get("PETIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = f"petit-test:tb:{uuid.uuid4().hex}"
    yield redis, prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


ClientFactory = Callable[..., ThingsBoardClient]


@pytest.fixture
async def make_client(emulator: Emulator, tb_redis: tuple[Redis, str]) -> AsyncIterator[ClientFactory]:
    """Clients that share one Redis key prefix behave like workers of one deployment."""
    redis, prefix = tb_redis
    made: list[ThingsBoardClient] = []
    base = ThingsBoardConfig(
        url=emulator.http_url,
        username=TENANT[0],
        password=TENANT[1],
        request_timeout_s=2.0,
        mqtt_host="127.0.0.1",
        mqtt_port=emulator.mqtt_port,
        key_prefix=prefix,
    )

    def factory(**overrides: Any) -> ThingsBoardClient:
        client = ThingsBoardClient(replace(base, **overrides), token_store=RedisTokenStore(redis))
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
def tb(make_client: ClientFactory) -> ThingsBoardClient:
    return make_client()


@pytest.fixture
async def device_http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """The device side over ThingsBoard's device HTTP API (``/api/v1/{token}/...``)."""
    async with httpx.AsyncClient(base_url=emulator.http_url, timeout=5.0) as client:
        yield client


def _unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    return _unique
