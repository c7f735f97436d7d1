from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, func
from sqlmodel import col, select

from petit.db.models import Device, DeviceIntent
from petit.devices.ownership import PROCESS_OWNERSHIP

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


class DeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, device_id: uuid.UUID) -> Device | None:
        return await self._session.get(Device, device_id)

    async def get_owned(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> Device | None:
        result = await self._session.execute(
            select(Device).where(col(Device.id) == device_id, col(Device.owner_id) == owner_id)
        )
        return result.scalar_one_or_none()

    async def get_by_name(self, owner_id: uuid.UUID, name: str) -> Device | None:
        result = await self._session.execute(
            select(Device).where(col(Device.owner_id) == owner_id, col(Device.name) == name)
        )
        return result.scalar_one_or_none()

    async def list_owned(self, owner_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[Device], int]:
        total = await self._session.scalar(
            select(func.count()).select_from(Device).where(col(Device.owner_id) == owner_id)
        )
        result = await self._session.execute(
            select(Device)
            .where(col(Device.owner_id) == owner_id)
            .order_by(col(Device.created_at), col(Device.id))
            .limit(limit)
            .offset(offset)
        )
        return list(result.scalars().all()), int(total or 0)

    async def get_by_platform_id(self, platform_device_id: uuid.UUID) -> Device | None:
        result = await self._session.execute(
            select(Device).where(col(Device.platform_device_id) == platform_device_id)
        )
        return result.scalar_one_or_none()

    async def all_platform_ids(self) -> dict[uuid.UUID, Device]:
        result = await self._session.execute(select(Device))
        return {d.platform_device_id: d for d in result.scalars().all()}

    async def add(self, device: Device) -> Device:
        self._session.add(device)
        await self._session.flush()
        return device

    async def save(self, device: Device) -> Device:
        # Cheap insurance: should a save ever move a device to another owner, no read may use the old one.
        PROCESS_OWNERSHIP.forget(device.id)
        self._session.add(device)
        await self._session.flush()
        return device

    async def delete(self, device: Device) -> None:
        # Before the flush, so reads in this process stop at once (see petit.devices.ownership).
        PROCESS_OWNERSHIP.forget(device.id)
        await self._session.delete(device)
        await self._session.flush()


class DeviceIntentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remove(self, intent_id: uuid.UUID) -> bool:
        """Delete the intent; False when it was gone already (someone else settled or swept it)."""
        result = await self._session.execute(
            delete(DeviceIntent)
            .where(col(DeviceIntent.id) == intent_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def stale(self, cutoff: datetime, *, limit: int) -> list[DeviceIntent]:
        """Intents older than ``cutoff``, oldest first, locked against other sweepers (skipped if taken)."""
        result = await self._session.execute(
            select(DeviceIntent)
            .where(col(DeviceIntent.created_at) <= cutoff)
            .order_by(col(DeviceIntent.created_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(result.scalars().all())
