"""Two petit processes watching the same pairings (one database, one Redis, one ThingsBoard): the pairing
completes once, with one device row and one success in the audit trail."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import httpx
import pytest
from litestar import Litestar
from sqlmodel import select

from petit.app import create_app
from petit.db.models import Device, DeviceEvent
from petit.runtime import runtime_of
from tests.integration.pairing.conftest import ScriptedDevice

if TYPE_CHECKING:
    from petit.settings import Settings
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

Serve = Callable[[Litestar], AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_two_instances_complete_each_pairing_exactly_once(
    ownership_settings: Callable[..., Settings], emulator: Emulator, serve: Serve
) -> None:
    settings = ownership_settings(pairing_watch_interval_s=0.05)
    one, two = create_app(settings), create_app(settings)
    async with serve(one) as first, serve(two) as second:
        email, password = f"multi-{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4().hex
        await first.post("/auth/signup", json={"email": email, "password": password})
        login = await second.post("/auth/login", json={"email": email, "password": password})
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        starts = [
            (await first.post("/pairings", json={"name": f"lamp-{i}"}, headers=headers)).json()
            for i in range(5)
        ]
        devices = [ScriptedDevice(emulator.mqtt_port, s["accessToken"]) for s in starts]
        try:
            for device, started in zip(devices, starts, strict=True):
                assert await device.wait_connected()
                await device.send_pair_key(started["pairKey"])
            deadline = time.monotonic() + 15
            pending = {s["pairingId"] for s in starts}
            while pending:
                assert time.monotonic() < deadline, f"still open: {pending}"
                for pairing_id in list(pending):
                    state = (await second.get(f"/pairings/{pairing_id}", headers=headers)).json()["state"]
                    if state == "completed":
                        pending.discard(pairing_id)
                await asyncio.sleep(0.05)
        finally:
            for device in devices:
                device.close()
        async with runtime_of(one).sessionmaker() as session:
            rows = (await session.execute(select(Device))).scalars().all()
            successes = (
                (
                    await session.execute(
                        select(DeviceEvent).where(
                            DeviceEvent.action == "complete",  # type: ignore[arg-type]
                            DeviceEvent.outcome == "succeeded",  # type: ignore[arg-type]
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert sorted(d.name for d in rows) == [f"lamp-{i}" for i in range(5)]
        assert len(successes) == 5
