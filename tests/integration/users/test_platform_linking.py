"""Each petit user gets a ThingsBoard customer and customer user; an outage at signup only delays that."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.app import create_app
from petit.runtime import runtime_of
from tests.sqltext import fetch

if TYPE_CHECKING:
    from litestar import Litestar

    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

Serve = Callable[["Litestar"], AbstractAsyncContextManager[httpx.AsyncClient]]


async def link_state(database_url: str, email: str) -> tuple[str, object]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            (row,) = await fetch(
                conn,
                "SELECT platform_link_state, platform_owner_id FROM users WHERE email = :e",
                {"e": email},
            )
    finally:
        await engine.dispose()
    return str(row[0]), row[1]


async def test_signup_links_at_once_and_ops_find_the_customer_by_email(
    tb_settings: Settings, emulator: Emulator, serve: Serve, database_url: str
) -> None:
    app = create_app(tb_settings)
    email = f"link-{uuid.uuid4().hex[:10]}@example.com"
    async with serve(app) as client:
        response = await client.post(
            "/auth/signup", json={"email": email, "password": secrets.token_urlsafe(16)}
        )
        assert response.status_code == 201, response.text
        owner = await runtime_of(app).thingsboard.find_owner(email)
    assert owner is not None
    assert owner.title == f"petit user {email}"
    assert await link_state(database_url, email) == ("linked", owner.owner_id)


async def test_an_outage_at_signup_is_healed_by_the_background_task(
    tb_settings: Settings, emulator: Emulator, serve: Serve, database_url: str
) -> None:
    email = f"late-{uuid.uuid4().hex[:10]}@example.com"
    emulator.faults.rest_unavailable()
    async with serve(create_app(tb_settings)) as client:
        started = time.monotonic()
        response = await client.post(
            "/auth/signup", json={"email": email, "password": secrets.token_urlsafe(16)}
        )
        assert response.status_code == 201, response.text
        # Signup waits for ThingsBoard at most its request timeout (plus scheduling slack).
        assert time.monotonic() - started < tb_settings.thingsboard.request_timeout_s + 2
    assert (await link_state(database_url, email))[0] == "pending"

    emulator.faults.clear()
    app = create_app(tb_settings)
    async with serve(app):
        deadline = time.monotonic() + 15
        while (await link_state(database_url, email))[0] != "linked":
            assert time.monotonic() < deadline, "the background task never linked the user"
            await asyncio.sleep(0.1)
        owner = await runtime_of(app).thingsboard.find_owner(email)
    assert owner is not None
    assert await link_state(database_url, email) == ("linked", owner.owner_id)
