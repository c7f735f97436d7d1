"""create_app builds its own ThingsBoard client from settings, and readiness follows ThingsBoard's health."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import httpx
import pytest
from litestar import Litestar

from petit.app import create_app

if TYPE_CHECKING:
    from petit.settings import Settings
    from thingsboard_emulator import Emulator

Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]


async def _thingsboard_status(client: httpx.AsyncClient) -> tuple[int, str]:
    response = await client.get("/health/ready")
    return response.status_code, response.json()["checks"]["thingsboard"]["status"]


async def test_readiness_reaches_the_configured_thingsboard(tb_settings: Settings, serve: Serve) -> None:
    async with serve(create_app(tb_settings)) as client:
        assert await _thingsboard_status(client) == (200, "ok")


async def test_readiness_follows_a_thingsboard_outage_and_recovers(
    tb_settings: Settings, emulator: Emulator, serve: Serve
) -> None:
    async with serve(create_app(tb_settings)) as client:
        assert await _thingsboard_status(client) == (200, "ok")

        emulator.faults.rest_errors(status=503)
        started = time.monotonic()
        # Readiness reports a probe at most a second old, and each answer comes within a second.
        while await _thingsboard_status(client) != (503, "unavailable"):
            assert time.monotonic() - started < 5, "readiness did not notice the outage"
        assert time.monotonic() - started < 5

        emulator.faults.clear()
        deadline = time.monotonic() + 10
        while await _thingsboard_status(client) != (200, "ok"):
            assert time.monotonic() < deadline, "readiness did not recover after ThingsBoard came back"


async def test_wrong_thingsboard_password_reads_as_unavailable(
    make_settings: Callable[..., Settings], emulator: Emulator, serve: Serve
) -> None:
    settings = make_settings(
        thingsboard={"url": emulator.http_url, "username": "tenant@thingsboard.org", "password": "wrong"}
    )
    async with serve(create_app(settings)) as client:
        assert await _thingsboard_status(client) == (503, "unavailable")


def test_a_thingsboard_url_without_credentials_is_refused(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="PETIT_THINGSBOARD__USERNAME"):
        make_settings(thingsboard={"url": "http://thingsboard:8080"})
