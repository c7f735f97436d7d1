"""Login throttling in Redis, constant-shape refusals, and rehash-on-login."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.app import create_app
from petit.db.models import User
from petit.lib.security import PasswordHasher

pytestmark = pytest.mark.integration

Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
async def throttled(make_settings: Any, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        auth={"login_max_failures_per_client": 3, "login_max_per_ip": 5, "login_window_s": 60}
    )
    async with serve(create_app(settings)) as client:
        yield client


async def test_login_flood_on_one_account_gets_429_with_retry_after(throttled: httpx.AsyncClient) -> None:
    email, password = new_email(), secrets.token_urlsafe(16)
    assert (
        await throttled.post("/auth/signup", json={"email": email, "password": password})
    ).status_code == 201
    statuses = [
        (
            await throttled.post("/auth/login", json={"email": email, "password": "wrong-password-1"})
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 401]
    # This client spent its failures on the account: even the right password waits the window out.
    flood = await throttled.post("/auth/login", json={"email": email.upper(), "password": password})
    assert flood.status_code == 429
    assert flood.headers["content-type"].startswith("application/problem+json")
    assert flood.json()["code"] == "login_throttled"
    retry_after = int(flood.headers["retry-after"])
    assert 1 <= retry_after <= 60


async def test_login_flood_from_one_ip_across_accounts_gets_429(throttled: httpx.AsyncClient) -> None:
    statuses = [
        (
            await throttled.post("/auth/login", json={"email": new_email(), "password": "whatever-123"})
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


async def test_throttle_is_per_ip(make_settings: Any, serve: Serve) -> None:
    settings = make_settings(
        app={"client_ip_header": "X-Forwarded-For"}, auth={"login_max_per_ip": 2, "login_window_s": 60}
    )
    async with serve(create_app(settings)) as client:

        async def attempt(ip: str) -> int:
            body = {"email": new_email(), "password": "whatever-123"}
            response = await client.post(
                "/auth/login", json=body, headers={"X-Forwarded-For": f"10.9.9.9, {ip}"}
            )
            return response.status_code

        assert [await attempt("198.51.100.1") for _ in range(3)] == [401, 401, 429]
        assert await attempt("198.51.100.2") == 401


async def test_throttle_counters_live_in_redis(
    throttled: httpx.AsyncClient, redis_client: Any, redis_prefix: str
) -> None:
    await throttled.post("/auth/login", json={"email": new_email(), "password": "whatever-123"})
    keys = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}auth:login:*")]
    # Per IP, per account, per (account, IP), and when that client last failed.
    assert len(keys) == 4
    for key in keys:
        assert 0 < await redis_client.ttl(key) <= 60


@pytest.fixture
async def behind_proxy(make_settings: Any, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        app={"client_ip_header": "X-Forwarded-For"},
        auth={"login_window_s": 300, "login_delay_after_failures": 5, "login_delay_base_s": 2.0},
    )
    async with serve(create_app(settings)) as client:
        yield client


async def login_from(client: httpx.AsyncClient, ip: str, email: str, password: str) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": ip}
    )


async def test_someone_failing_ten_times_cannot_lock_the_owner_out(behind_proxy: httpx.AsyncClient) -> None:
    email, password = new_email(), secrets.token_urlsafe(16)
    assert (
        await behind_proxy.post("/auth/signup", json={"email": email, "password": password})
    ).status_code == 201
    attacker = "198.51.100.66"
    answers = [
        (await login_from(behind_proxy, attacker, email, f"guess-{i:04d}")).status_code for i in range(10)
    ]
    # Five free tries, then the account's progressive delay applies to the attacker (who has failed).
    assert answers[:5] == [401] * 5
    assert 429 in answers[5:]
    refused = await login_from(behind_proxy, attacker, email, f"guess-{99:04d}")
    assert refused.status_code == 429
    assert refused.json()["code"] == "login_throttled"
    assert 1 <= int(refused.headers["retry-after"]) <= 300
    # The owner, from their own address, has not failed: the right password works at once.
    owner = await login_from(behind_proxy, "203.0.113.10", email, password)
    assert owner.status_code == 200, owner.text
    # And so does anyone else who has not failed; a wrong password from them is a plain 401.
    assert (await login_from(behind_proxy, "203.0.113.11", email, "not-it-at-all")).status_code == 401


async def test_a_client_that_failed_waits_the_delay_then_gets_in(make_settings: Any, serve: Serve) -> None:
    settings = make_settings(
        app={"client_ip_header": "X-Forwarded-For"},
        auth={
            "login_delay_after_failures": 2,
            "login_delay_base_s": 1.0,
            "login_max_failures_per_client": 10,
        },
    )
    async with serve(create_app(settings)) as client:
        email, password = new_email(), secrets.token_urlsafe(16)
        await client.post("/auth/signup", json={"email": email, "password": password})
        ip = "198.51.100.7"
        assert (await login_from(client, ip, email, "wrong-one-1")).status_code == 401
        assert (await login_from(client, ip, email, "wrong-one-2")).status_code == 401
        slowed = await login_from(client, ip, email, password)
        assert slowed.status_code == 429
        assert slowed.headers["retry-after"] == "1"
        await asyncio.sleep(1.05)
        assert (await login_from(client, ip, email, password)).status_code == 200


async def test_unknown_email_costs_about_as_much_as_a_wrong_password(
    make_settings: Any, serve: Serve
) -> None:
    # Realistic-ish argon2 cost: skipping the hash (ratio ~0.05) must stand out far above scheduling noise,
    # which the loose bounds absorb on a loaded CI machine.
    settings = make_settings(
        auth={
            "argon2_time_cost": 2,
            "argon2_memory_cost_kib": 16 * 1024,
            "login_max_failures_per_client": 100,
            # Timing, not throttling, is under test here: no progressive delay for the repeated failures.
            "login_delay_after_failures": 1000,
        }
    )
    async with serve(create_app(settings)) as client:
        email, password = new_email(), secrets.token_urlsafe(16)
        await client.post("/auth/signup", json={"email": email, "password": password})

        async def timed(body: dict[str, str]) -> float:
            started = time.perf_counter()
            response = await client.post("/auth/login", json=body)
            assert response.status_code == 401
            return time.perf_counter() - started

        await timed({"email": new_email(), "password": "warm-up-123"})  # builds the dummy hash once
        wrong: list[float] = []
        unknown: list[float] = []
        for _ in range(9):
            wrong.append(await timed({"email": email, "password": "not-the-password"}))
            unknown.append(await timed({"email": new_email(), "password": "not-the-password"}))
        ratio = statistics.median(unknown) / statistics.median(wrong)
        assert 1 / 3 < ratio < 3, f"unknown/wrong median ratio {ratio:.2f} (wrong={wrong}, unknown={unknown})"


async def test_login_rehashes_when_argon2_parameters_change(
    make_settings: Any, serve: Serve, database_url: str
) -> None:
    email, password = new_email(), secrets.token_urlsafe(16)
    old = make_settings(auth={"argon2_time_cost": 1, "argon2_memory_cost_kib": 1024})
    async with serve(create_app(old)) as client:
        assert (
            await client.post("/auth/signup", json={"email": email, "password": password})
        ).status_code == 201
    before = await _stored_hash(database_url, email)
    assert "m=1024,t=1" in before

    new = make_settings(auth={"argon2_time_cost": 2, "argon2_memory_cost_kib": 2048})
    async with serve(create_app(new)) as client:
        assert (
            await client.post("/auth/login", json={"email": email, "password": password})
        ).status_code == 200
        after = await _stored_hash(database_url, email)
        assert after.startswith("$argon2id$")
        assert "m=2048,t=2" in after
        # The new hash still verifies the same password, and a second login leaves it alone.
        hasher = PasswordHasher(time_cost=2, memory_cost_kib=2048, parallelism=1)
        assert hasher.verify(password, after) == (True, None)
        assert (
            await client.post("/auth/login", json={"email": email, "password": password})
        ).status_code == 200
        assert await _stored_hash(database_url, email) == after


async def _stored_hash(database_url: str, email: str) -> str:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            value = (await conn.execute(select(User.password_hash).where(User.email == email))).scalar_one()  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    return str(value)
