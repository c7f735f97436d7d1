"""petit on the ThingsBoard emulator, with owners and owned devices made over HTTP."""

from __future__ import annotations

import asyncio
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from paho.mqtt import client as mqtt
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from petit.app import create_app
from tests.sqltext import fetch

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    import httpx
    from litestar import Litestar
    from sqlalchemy.sql import Executable

    from petit.settings import Settings
    from thingsboard_emulator import Emulator


@dataclass
class Owner:
    id: uuid.UUID
    headers: dict[str, str]


@dataclass
class Gateway:
    client: httpx.AsyncClient
    app: Litestar
    emulator: Emulator
    database_url: str

    async def owner(self) -> Owner:
        email = f"gw-{uuid.uuid4().hex[:12]}@example.com"
        password = secrets.token_urlsafe(18)
        signed = await self.client.post("/auth/signup", json={"email": email, "password": password})
        assert signed.status_code == 201, signed.text
        logged = await self.client.post("/auth/login", json={"email": email, "password": password})
        assert logged.status_code == 200, logged.text
        headers = {"Authorization": f"Bearer {logged.json()['accessToken']}"}
        return Owner(uuid.UUID(signed.json()["id"]), headers)

    async def device(self, owner: Owner) -> tuple[uuid.UUID, str]:
        """A device the owner created, and its current ThingsBoard access token."""
        created = await self.client.post(
            "/devices/", json={"name": f"meter-{uuid.uuid4().hex[:8]}"}, headers=owner.headers
        )
        assert created.status_code == 201, created.text
        device_id = uuid.UUID(created.json()["id"])
        creds = await self.client.get(f"/devices/{device_id}/credentials", headers=owner.headers)
        assert creds.status_code == 200, creds.text
        return device_id, creds.json()["accessToken"]

    async def execute(self, statement: Executable) -> None:
        engine = create_async_engine(self.database_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await conn.execute(statement)
        finally:
            await engine.dispose()

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        engine = create_async_engine(self.database_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                return await fetch(conn, statement, params)
        finally:
            await engine.dispose()


def mqtt_accepts(port: int, token: str, timeout_s: float = 5.0) -> bool:
    """Whether the broker accepts ``token`` as a device's MQTT username (blocking: call in a thread)."""
    answered = threading.Event()
    outcome: list[bool] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        outcome.append(not reason.is_failure)
        answered.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
    client.username_pw_set(token)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(timeout_s), "no CONNACK"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()


async def accepts(port: int, token: str) -> bool:
    return await asyncio.to_thread(mqtt_accepts, port, token)


@pytest.fixture
async def gateway(
    tb_settings: Settings,
    emulator: Emulator,
    database_url: str,
    serve: Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> AsyncIterator[Gateway]:
    app = create_app(tb_settings)
    async with serve(app) as client:
        yield Gateway(client, app, emulator, database_url)
