"""Feature services over FakeThingsBoard and an in-memory ownership table: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from petit.db.models import Device
from petit.devices.roles import Role
from petit.devices.services import DeviceLookup
from petit.settings import CommandSettings, TelemetrySettings
from tests.fakes.thingsboard import FakeThingsBoard


class MemoryDevices:
    """Just the DeviceRepository queries DeviceLookup and the stream list use (no shares: owners only)."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, Device] = {}

    async def get_owned(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> Device | None:
        row = self.rows.get(device_id)
        return row if row is not None and row.owner_id == owner_id else None

    async def get_accessible(self, user_id: uuid.UUID, device_id: uuid.UUID) -> tuple[Device, Role] | None:
        row = await self.get_owned(user_id, device_id)
        return (row, Role.OWNER) if row is not None else None

    async def list_accessible(
        self, user_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[tuple[Device, Role, str]], int]:
        owned, total = await self.list_owned(user_id, limit=limit, offset=offset)
        return [(d, Role.OWNER, "") for d in owned], total

    async def list_owned(self, owner_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[Device], int]:
        owned = [d for d in self.rows.values() if d.owner_id == owner_id]
        return owned[offset : offset + limit], len(owned)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return 0.0


@dataclass
class World:
    thingsboard: FakeThingsBoard
    repo: MemoryDevices
    devices: DeviceLookup
    clock: FixedClock
    telemetry_settings: TelemetrySettings = field(default_factory=TelemetrySettings)
    command_settings: CommandSettings = field(default_factory=CommandSettings)

    async def device(self, owner_id: uuid.UUID) -> Device:
        owner = await self.thingsboard.ensure_owner(f"{owner_id}@example.com")
        record = await self.thingsboard.create_device(f"d-{uuid.uuid4().hex}", owner_id=owner.owner_id)
        now = self.clock.now()
        row = Device(
            owner_id=owner_id, platform_device_id=record.id, name=record.name, created_at=now, updated_at=now
        )
        self.repo.rows[row.id] = row
        return row


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    repo = MemoryDevices()
    fake = FakeThingsBoard(clock=NOW.timestamp)
    devices: Any = DeviceLookup(devices=repo)  # type: ignore[arg-type]  # the two queries it uses
    return World(thingsboard=fake, repo=repo, devices=devices, clock=FixedClock(NOW))
