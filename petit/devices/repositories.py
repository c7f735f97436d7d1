from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import col, select

from petit.db.models import Device, DeviceIntent, DeviceShare, ShareState, User
from petit.devices.ownership import PROCESS_OWNERSHIP
from petit.devices.roles import Role

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

    async def get_accessible(self, user_id: uuid.UUID, device_id: uuid.UUID) -> tuple[Device, Role] | None:
        """The device and ``user_id``'s role on it (owner, or an accepted share); None when they have none."""
        result = await self._session.execute(
            select(Device, col(DeviceShare.role))
            .outerjoin(DeviceShare, _accepted_share_of(user_id))
            .where(
                col(Device.id) == device_id,
                or_(col(Device.owner_id) == user_id, col(DeviceShare.id).is_not(None)),
            )
        )
        row = result.first()
        if row is None:
            return None
        device, share_role = row
        return device, Role.OWNER if device.owner_id == user_id else Role(share_role)

    async def list_accessible(
        self, user_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[tuple[Device, Role, str]], int]:
        """Devices ``user_id`` owns or holds an accepted share of, with their role and the owner's e-mail."""
        visible = or_(col(Device.owner_id) == user_id, col(DeviceShare.id).is_not(None))
        total = await self._session.scalar(
            select(func.count())
            .select_from(Device)
            .outerjoin(DeviceShare, _accepted_share_of(user_id))
            .where(visible)
        )
        result = await self._session.execute(
            select(Device, col(DeviceShare.role), col(User.email))
            .outerjoin(DeviceShare, _accepted_share_of(user_id))
            .join(User, col(User.id) == col(Device.owner_id))
            .where(visible)
            .order_by(col(Device.created_at), col(Device.id))
            .limit(limit)
            .offset(offset)
        )
        items = [
            (device, Role.OWNER if device.owner_id == user_id else Role(role), email)
            for device, role, email in result.all()
        ]
        return items, int(total or 0)

    async def lock(self, device_id: uuid.UUID) -> None:
        """Hold the device row until the transaction ends (PostgreSQL; SQLite serializes writers anyway)."""
        await self._session.execute(
            select(col(Device.id)).where(col(Device.id) == device_id).with_for_update()
        )

    async def owner_email(self, device: Device) -> str | None:
        return await self._session.scalar(select(User.email).where(col(User.id) == device.owner_id))

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

    async def reassign(
        self, device: Device, *, from_owner: uuid.UUID, to_owner: uuid.UUID, name: str, now: datetime
    ) -> bool:
        """Move the row to ``to_owner`` if ``from_owner`` still owns it; False when it changed meanwhile."""
        PROCESS_OWNERSHIP.forget(device.id)
        result = await self._session.execute(
            update(Device)
            .where(col(Device.id) == device.id, col(Device.owner_id) == from_owner)
            .values(owner_id=to_owner, name=name, owned_since=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        device.owner_id, device.name, device.owned_since, device.updated_at = to_owner, name, now, now
        return True

    async def delete(self, device: Device) -> None:
        # Before the flush, so reads in this process stop at once (see petit.devices.ownership).
        PROCESS_OWNERSHIP.forget(device.id)
        await self._session.delete(device)
        await self._session.flush()


def _accepted_share_of(user_id: uuid.UUID) -> Any:
    return and_(
        col(DeviceShare.device_id) == col(Device.id),
        col(DeviceShare.user_id) == user_id,
        col(DeviceShare.state) == ShareState.ACCEPTED.value,
    )


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
