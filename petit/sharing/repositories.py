from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, update
from sqlmodel import col, select

from petit.db.models import Device, DeviceShare, DeviceTransfer, ShareState, User

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


class ShareRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, share_id: uuid.UUID) -> DeviceShare | None:
        return await self._session.get(DeviceShare, share_id)

    async def for_device(self, device_id: uuid.UUID) -> list[DeviceShare]:
        result = await self._session.execute(
            select(DeviceShare)
            .where(col(DeviceShare.device_id) == device_id)
            .order_by(col(DeviceShare.created_at), col(DeviceShare.id))
        )
        return list(result.scalars().all())

    async def find(self, device_id: uuid.UUID, email: str) -> DeviceShare | None:
        result = await self._session.execute(
            select(DeviceShare).where(
                col(DeviceShare.device_id) == device_id, col(DeviceShare.invitee_email) == email
            )
        )
        return result.scalar_one_or_none()

    async def count_holding(self, device_id: uuid.UUID, now: datetime) -> int:
        """Accepted shares and invitations still open: the seats they take on the device."""
        total = await self._session.scalar(
            select(func.count())
            .select_from(DeviceShare)
            .where(
                col(DeviceShare.device_id) == device_id,
                or_(
                    col(DeviceShare.state) == ShareState.ACCEPTED.value,
                    col(DeviceShare.expires_at) > now,
                ),
            )
        )
        return int(total or 0)

    async def incoming(self, email: str, now: datetime) -> list[tuple[DeviceShare, Device, str]]:
        result = await self._session.execute(
            select(DeviceShare, Device, col(User.email))
            .join(Device, col(Device.id) == col(DeviceShare.device_id))
            .join(User, col(User.id) == col(Device.owner_id))
            .where(
                col(DeviceShare.invitee_email) == email,
                col(DeviceShare.state) == ShareState.PENDING.value,
                col(DeviceShare.expires_at) > now,
            )
            .order_by(col(DeviceShare.created_at))
        )
        return [(share, device, owner_email) for share, device, owner_email in result.all()]

    async def add(self, share: DeviceShare) -> DeviceShare:
        self._session.add(share)
        await self._session.flush()
        return share

    async def accept(self, share_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> bool:
        """Pending and unexpired -> accepted, in one statement: of an accept and a concurrent revoke (or a
        second accept) exactly one changes the row."""
        result = await self._session.execute(
            update(DeviceShare)
            .where(
                col(DeviceShare.id) == share_id,
                col(DeviceShare.state) == ShareState.PENDING.value,
                col(DeviceShare.expires_at) > now,
            )
            .values(state=ShareState.ACCEPTED.value, user_id=user_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_role(self, share_id: uuid.UUID, role: str, now: datetime) -> bool:
        result = await self._session.execute(
            update(DeviceShare)
            .where(col(DeviceShare.id) == share_id)
            .values(role=role, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove(self, share_id: uuid.UUID, *, state: str | None = None) -> bool:
        """Delete it (only while in ``state``, if given); False when another request got there first."""
        statement = delete(DeviceShare).where(col(DeviceShare.id) == share_id)
        if state is not None:
            statement = statement.where(col(DeviceShare.state) == state)
        result = await self._session.execute(statement.execution_options(synchronize_session=False))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove_all(
        self, device_id: uuid.UUID, *, except_user: uuid.UUID | None = None
    ) -> list[DeviceShare]:
        """Drop every share of the device; returns what was dropped."""
        dropped = await self.for_device(device_id)
        await self._session.execute(
            delete(DeviceShare)
            .where(col(DeviceShare.device_id) == device_id)
            .execution_options(synchronize_session=False)
        )
        return [s for s in dropped if except_user is None or s.user_id != except_user]

    async def remove_for(self, device_id: uuid.UUID, *, user_id: uuid.UUID, email: str) -> None:
        """The recipient's own share or invitation goes: an owner needs none."""
        await self._session.execute(
            delete(DeviceShare)
            .where(
                col(DeviceShare.device_id) == device_id,
                or_(col(DeviceShare.user_id) == user_id, col(DeviceShare.invitee_email) == email),
            )
            .execution_options(synchronize_session=False)
        )


class TransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, transfer_id: uuid.UUID) -> DeviceTransfer | None:
        return await self._session.get(DeviceTransfer, transfer_id)

    async def replace(self, transfer: DeviceTransfer) -> DeviceTransfer:
        """The device's one open offer becomes ``transfer``."""
        await self.remove_for_device(transfer.device_id)
        self._session.add(transfer)
        await self._session.flush()
        return transfer

    async def remove_for_device(self, device_id: uuid.UUID) -> bool:
        result = await self._session.execute(
            delete(DeviceTransfer)
            .where(col(DeviceTransfer.device_id) == device_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def spend(self, transfer_id: uuid.UUID) -> bool:
        """Delete the offer; False when it was cancelled (or spent) meanwhile."""
        result = await self._session.execute(
            delete(DeviceTransfer)
            .where(col(DeviceTransfer.id) == transfer_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def incoming(self, email: str, now: datetime) -> list[tuple[DeviceTransfer, Device, str]]:
        result = await self._session.execute(
            select(DeviceTransfer, Device, col(User.email))
            .join(Device, col(Device.id) == col(DeviceTransfer.device_id))
            .join(User, col(User.id) == col(Device.owner_id))
            .where(col(DeviceTransfer.to_email) == email, col(DeviceTransfer.expires_at) > now)
            .order_by(col(DeviceTransfer.created_at))
        )
        return [(transfer, device, owner_email) for transfer, device, owner_email in result.all()]
