"""Fault injection: REST unavailable, slow or failing for a while, switched on and off without a restart."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.emulator.conftest import wait_for

if TYPE_CHECKING:
    from thingsboard_emulator import Emulator


def _login(url: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}, timeout=5
    )


def _refused(url: str) -> bool:
    try:
        _login(url)
    except httpx.TransportError:
        return True
    return False


def test_errors_then_clear(sync_emulator: Emulator) -> None:
    url = sync_emulator.http_url
    sync_emulator.faults.rest_errors(status=502)
    resp = _login(url)
    assert resp.status_code == 502
    assert set(resp.json()) == {"status", "message", "errorCode", "timestamp"}
    sync_emulator.faults.clear()
    assert _login(url).status_code == 200


def test_errors_expire_by_themselves(sync_emulator: Emulator) -> None:
    # Long enough that the first request lands inside the window even on a loaded machine.
    sync_emulator.faults.rest_errors(seconds=2.0)
    assert _login(sync_emulator.http_url).status_code == 503
    wait_for(lambda: _login(sync_emulator.http_url).status_code == 200, timeout=10)


def test_slow(sync_emulator: Emulator) -> None:
    sync_emulator.faults.rest_slow(0.4)
    started = time.monotonic()
    assert _login(sync_emulator.http_url).status_code == 200
    assert time.monotonic() - started >= 0.4
    sync_emulator.faults.clear()
    started = time.monotonic()
    _login(sync_emulator.http_url)
    assert time.monotonic() - started < 0.4


def test_unavailable_refuses_connections_then_recovers_on_same_port(sync_emulator: Emulator) -> None:
    url = sync_emulator.http_url
    port = sync_emulator.http_port
    sync_emulator.faults.rest_unavailable(seconds=0.5)
    wait_for(lambda: _refused(url), timeout=5)
    wait_for(lambda: not _refused(url), timeout=5)
    assert sync_emulator.http_port == port
    assert _login(url).status_code == 200


def test_unavailable_until_cleared(sync_emulator: Emulator) -> None:
    url = sync_emulator.http_url
    sync_emulator.faults.rest_unavailable()
    wait_for(lambda: _refused(url), timeout=5)
    sync_emulator.faults.clear()
    wait_for(lambda: not _refused(url), timeout=5)


def test_faults_over_http_control_endpoint(sync_emulator: Emulator) -> None:
    url = sync_emulator.http_url
    assert httpx.post(f"{url}/__emulator/faults", json={"mode": "error", "status": 500}).status_code == 200
    assert _login(url).status_code == 500
    # The control endpoints themselves stay reachable, so the fault can be lifted remotely.
    assert httpx.get(f"{url}/__emulator/faults").json()["mode"] == "error"
    assert httpx.post(f"{url}/__emulator/faults", json={"mode": "none"}).status_code == 200
    assert _login(url).status_code == 200
    assert httpx.post(f"{url}/__emulator/faults", json={"mode": "bogus"}).status_code == 400
    assert (
        httpx.post(f"{url}/__emulator/faults", json={"mode": "unavailable", "seconds": 0.3}).status_code
        == 200
    )
    wait_for(lambda: _refused(url), timeout=5)
    wait_for(lambda: not _refused(url), timeout=5)


async def test_faults_in_loop(emulator: Emulator) -> None:
    emulator.faults.rest_errors(status=503)
    async with httpx.AsyncClient(base_url=emulator.http_url) as client:
        resp = await client.get("/api/auth/user")
        assert resp.status_code == 503
        emulator.faults.clear()
        resp = await client.get("/api/auth/user")
        assert resp.status_code == 401


@pytest.mark.parametrize("mode", ["slow", "error"])
def test_device_api_is_affected_too(sync_emulator: Emulator, mode: str) -> None:
    if mode == "slow":
        sync_emulator.faults.rest_slow(0.2)
    else:
        sync_emulator.faults.rest_errors(503)
    resp = httpx.post(f"{sync_emulator.http_url}/api/v1/unknown/telemetry", json={"a": 1})
    assert resp.status_code == (401 if mode == "slow" else 503)
