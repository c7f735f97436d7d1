"""ThingsBoard or Redis failing: 503 with the dependency's code and Retry-After, on time, on every route.

ThingsBoard's timeout is 1 s here (``tb_settings``); "on time" is that timeout plus a small margin.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Any

import pytest

from petit.app import create_app

if TYPE_CHECKING:
    import httpx

    from petit.settings import Settings
    from tests.integration.devicedata.conftest import Kit, Serve

pytestmark = pytest.mark.integration

TB_TIMEOUT_S = 1.0
MARGIN_S = 1.5


def assert_unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert int(response.headers["retry-after"]) >= 1


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


@pytest.mark.parametrize("fault", ["slow", "unavailable", "errors"])
async def test_thingsboard_failing_is_503_on_time_on_every_route(kit: Kit, fault: str) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    base = f"/devices/{device.id}"
    if fault == "slow":
        kit.emulator.faults.rest_slow(TB_TIMEOUT_S + 3)
    elif fault == "unavailable":
        kit.emulator.faults.rest_unavailable()
    else:
        kit.emulator.faults.rest_errors(503)
    try:
        calls = {
            "latest": kit.client.get(f"{base}/telemetry/latest", headers=owner.headers),
            "settings": kit.client.get(f"{base}/settings", headers=owner.headers),
            "put settings": kit.client.put(
                f"{base}/settings", json={"values": {"a": 1}}, headers=owner.headers
            ),
            "credentials": kit.client.get(f"{base}/credentials", headers=owner.headers),
            "create": kit.client.post("/devices", json={"name": "new one"}, headers=owner.headers),
        }
        for name, call in calls.items():
            response, took = await timed(call)
            assert_unavailable(response, "thingsboard_unavailable")
            assert took < TB_TIMEOUT_S + MARGIN_S, f"{name} took {took:.1f}s"
        # A command's deadline is its own timeout plus ThingsBoard's: still a 503, never the device's 504.
        command = {"function": "blink", "params": {}, "mode": "twoway", "timeoutMs": 500}
        response, took = await timed(kit.client.post(f"{base}/commands", json=command, headers=owner.headers))
        assert_unavailable(response, "thingsboard_unavailable")
        assert took < 0.5 + TB_TIMEOUT_S + MARGIN_S + 2.0
        # Readiness answers within a second, and says who is down.
        response, took = await timed(kit.client.get("/health/ready"))
        assert response.status_code == 503
        assert response.json()["checks"]["thingsboard"]["status"] == "unavailable"
        assert took < 1.0
    finally:
        kit.emulator.faults.clear()


async def test_a_silent_device_is_still_the_devices_fault(kit: Kit) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)  # never connected: ThingsBoard answers that it did not reply
    command = {"function": "blink", "params": {}, "mode": "twoway", "timeoutMs": 300}
    response = await kit.client.post(f"/devices/{device.id}/commands", json=command, headers=owner.headers)
    assert response.status_code == 504, response.text
    assert response.json()["code"] == "device_timeout"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_unreachable_is_503_not_500(tb_settings: Settings, kit: Kit, serve: Serve) -> None:
    # Accounts are made while Redis is up; then a second petit on the same database has none.
    owner = await kit.owner()
    device = await kit.device(owner)
    cut = tb_settings.model_copy(
        update={"redis": tb_settings.redis.model_copy(update={"url": f"redis://127.0.0.1:{closed_port()}/0"})}
    )
    async with serve(create_app(cut)) as client:
        calls = {
            "login": client.post("/auth/login", json={"email": owner.email, "password": "whatever-1"}),
            "me": client.get("/users/me", headers=owner.headers),
            "devices": client.get("/devices", headers=owner.headers),
            "latest": client.get(f"/devices/{device.id}/telemetry/latest", headers=owner.headers),
            "logout": client.post("/auth/logout", headers=owner.headers),
        }
        for name, call in calls.items():
            response, took = await timed(call)
            assert_unavailable(response, "redis_unavailable")
            assert took < cut.redis.command_timeout_s + MARGIN_S, f"{name} took {took:.1f}s"
        response, took = await timed(client.get("/health/ready"))
        assert response.status_code == 503
        assert response.json()["checks"]["redis"]["status"] == "unavailable"
        assert took < 1.0
