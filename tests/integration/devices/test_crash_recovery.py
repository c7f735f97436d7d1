"""``kill -9`` in the middle of a burst of CreateDevice: the restarted petit undoes, by itself, every
ThingsBoard device the dead process created without writing its row.

petit runs as a real process (``petit run``) against the emulator over HTTP; ThingsBoard is slowed so that
the kill lands while requests sit between ThingsBoard's create and petit's commit.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.sqltext import fetch

if TYPE_CHECKING:
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

BURST = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_petit(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from petit.cli import main; main()",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_live(url: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(f"{url}/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("petit did not start")
            await asyncio.sleep(0.1)


async def platform_names(emulator: Emulator) -> set[str]:
    async with httpx.AsyncClient(base_url=emulator.http_url, timeout=10) as http:
        login = await http.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        page = await http.get(
            "/api/tenant/devices",
            params={"pageSize": 1000, "page": 0, "textSearch": "petit-"},
            headers={"X-Authorization": f"Bearer {login.json()['token']}"},
        )
    return {d["name"] for d in page.json()["data"] if d["name"].startswith("petit-")}


async def row_names(database_url: str) -> set[str]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await fetch(conn, "SELECT id FROM devices")
    finally:
        await engine.dispose()
    return {f"petit-{row[0]}" for row in rows}


async def open_intents(database_url: str) -> int:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await fetch(conn, "SELECT count(*) FROM device_intents")
    finally:
        await engine.dispose()
    return int(rows[0][0])


async def test_a_killed_process_leaves_nothing_behind_once_restarted(
    emulator: Emulator, database_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETIT_")}
    env.update(
        {
            "PETIT_ENVIRONMENT": "development",
            "PETIT_DB__URL": database_url,
            "PETIT_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "PETIT_AUTH__ARGON2_TIME_COST": "1",
            "PETIT_AUTH__ARGON2_MEMORY_COST_KIB": "1024",
            "PETIT_THINGSBOARD__URL": emulator.http_url,
            "PETIT_THINGSBOARD__USERNAME": "tenant@thingsboard.org",
            "PETIT_THINGSBOARD__PASSWORD": "tenant",
            "PETIT_THINGSBOARD__MQTT_HOST": "127.0.0.1",
            "PETIT_THINGSBOARD__MQTT_PORT": str(emulator.mqtt_port),
            "PETIT_OWNERSHIP__INTENT_GRACE_S": "2",
            "PETIT_OWNERSHIP__INTENT_SWEEP_INTERVAL_S": "0.5",
        }
    )
    petit = start_petit(env, port)
    try:
        await wait_live(url)
        email, password = f"crash-{uuid.uuid4().hex[:8]}@example.com", uuid.uuid4().hex
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (await http.post("/auth/signup", json={"email": email, "password": password})).is_success
            token = (await http.post("/auth/login", json={"email": email, "password": password})).json()
            headers = {"Authorization": f"Bearer {token['accessToken']}"}
            # ThingsBoard calls now take a while: requests pile up between its create and petit's commit.
            emulator.faults.rest_slow(0.5)
            burst = [
                asyncio.create_task(http.post("/devices", json={"name": f"d{i}"}, headers=headers))
                for i in range(BURST)
            ]
            deadline = time.monotonic() + 20
            while not (await platform_names(emulator)) - (await row_names(database_url)):
                assert time.monotonic() < deadline, "no request reached ThingsBoard"
                await asyncio.sleep(0.05)
            petit.send_signal(signal.SIGKILL)
            petit.wait(10)
            await asyncio.gather(*burst, return_exceptions=True)
        emulator.faults.clear()
        orphans = await platform_names(emulator) - await row_names(database_url)
        assert orphans, "the kill should have left ThingsBoard devices without rows"

        # Nobody runs `petit reconcile`: the restarted process's sweeper finds and removes them.
        petit = start_petit(env, port)
        await wait_live(url)
        deadline = time.monotonic() + 30
        while await platform_names(emulator) != await row_names(database_url) or await open_intents(
            database_url
        ):
            assert time.monotonic() < deadline, (
                f"still drifting: {await platform_names(emulator) - await row_names(database_url)}"
            )
            await asyncio.sleep(0.2)
    finally:
        emulator.faults.clear()
        if petit.poll() is None:
            petit.send_signal(signal.SIGTERM)
            try:
                petit.wait(15)
            except subprocess.TimeoutExpired:
                petit.kill()
