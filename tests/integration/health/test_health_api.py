"""Liveness and readiness against real PostgreSQL and Redis, with each dependency failing on its own."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.engine import make_url

from petit.app import create_app

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.integration


class StubThingsBoard:
    """Implements the one port method readiness uses."""

    def __init__(self, *, fail: bool = False, delay_s: float = 0.0) -> None:
        self.fail = fail
        self.delay_s = delay_s
        self.calls = 0

    async def check_health(self) -> None:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("thingsboard down")


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ready(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    assert response.headers["content-type"].startswith("application/json")
    return response.status_code, response.json()


async def test_liveness_needs_nothing(make_settings: Any, serve: Any) -> None:
    settings = make_settings(db={"url": f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/none"})
    async with serve(create_app(settings)) as client:
        response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_everything_answers(settings: Any, serve: Any) -> None:
    thingsboard = StubThingsBoard()
    async with serve(create_app(settings, thingsboard=thingsboard)) as client:
        status, body = await ready(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "redis": "ok",
        "thingsboard": "ok",
    }
    assert body["checks"]["database"]["detail"] == make_url(settings.db.url).get_backend_name()
    assert thingsboard.calls == 1


async def test_not_ready_without_thingsboard(settings: Any, serve: Any) -> None:
    async with serve(create_app(settings)) as client:
        status, body = await ready(client)
    assert status == 503
    assert body["checks"]["thingsboard"] == {
        "status": "unavailable",
        "detail": "not configured",
        "latencyMs": None,
    }
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"


async def test_not_ready_when_thingsboard_fails_or_hangs(make_settings: Any, serve: Any) -> None:
    settings = make_settings(thingsboard={"request_timeout_s": 0.2})
    for stub, detail in (
        (StubThingsBoard(fail=True), "ConnectionError"),
        (StubThingsBoard(delay_s=5), "no answer"),
    ):
        async with serve(create_app(settings, thingsboard=stub)) as client:
            status, body = await ready(client)
        assert status == 503
        assert body["checks"]["thingsboard"]["status"] == "unavailable"
        assert body["checks"]["thingsboard"]["detail"].startswith(detail)
        assert body["checks"]["database"]["status"] == "ok"


async def test_not_ready_when_redis_is_down(make_settings: Any, serve: Any) -> None:
    settings = make_settings(redis={"url": f"redis://127.0.0.1:{closed_port()}/0", "health_timeout_s": 1.0})
    async with serve(create_app(settings, thingsboard=StubThingsBoard())) as client:
        status, body = await ready(client)
    assert status == 503
    assert body["checks"]["redis"]["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["thingsboard"]["status"] == "ok"


async def test_not_ready_when_the_database_is_down(make_settings: Any, serve: Any) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/none"
    settings = make_settings(db={"url": url, "health_timeout_s": 1.0})
    async with serve(create_app(settings, thingsboard=StubThingsBoard())) as client:
        status, body = await ready(client)
    assert status == 503
    assert body["checks"]["database"]["status"] == "unavailable"
    assert body["checks"]["redis"]["status"] == "ok"


async def test_in_process_cache_is_reported(make_settings: Any, serve: Any) -> None:
    settings = make_settings(redis={"url": None})
    async with serve(create_app(settings, thingsboard=StubThingsBoard())) as client:
        status, body = await ready(client)
    assert status == 200
    assert body["checks"]["redis"]["detail"].startswith("in-process cache")


async def test_readiness_answers_within_a_second_from_a_recent_probe(make_settings: Any, serve: Any) -> None:
    settings = make_settings(thingsboard={"request_timeout_s": 5.0})
    thingsboard = StubThingsBoard(delay_s=3)
    async with serve(create_app(settings, thingsboard=thingsboard)) as client:
        for _ in range(3):
            started = asyncio.get_running_loop().time()
            status, body = await ready(client)
            assert asyncio.get_running_loop().time() - started < 1.0
            assert status == 503
            assert body["checks"]["thingsboard"]["detail"].startswith("no answer within")
            assert body["checks"]["database"]["status"] == "ok"
    # One probe was still running: the later checks waited on it instead of starting more.
    assert thingsboard.calls == 1
