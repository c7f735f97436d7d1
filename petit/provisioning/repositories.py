from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, select

from petit.db.models import ProvisionedDevice

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


class ProvisionedDeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_mac(self, mac: str) -> ProvisionedDevice | None:
        result = await self._session.execute(
            select(ProvisionedDevice).where(col(ProvisionedDevice.mac) == mac)
        )
        return result.scalar_one_or_none()

    async def by_platform_id(self, platform_device_id: uuid.UUID) -> ProvisionedDevice | None:
        result = await self._session.execute(
            select(ProvisionedDevice).where(col(ProvisionedDevice.platform_device_id) == platform_device_id)
        )
        return result.scalar_one_or_none()

    async def add(self, row: ProvisionedDevice) -> ProvisionedDevice:
        self._session.add(row)
        await self._session.flush()
        return row

    async def consume_secret(self, row_id: uuid.UUID, digest: str, *, new_digest: str, now: datetime) -> bool:
        """Swap the device secret only if it is still ``digest``: of two racing requests, one wins."""
        result = await self._session.execute(
            update(ProvisionedDevice)
            .where(col(ProvisionedDevice.id) == row_id, col(ProvisionedDevice.device_secret_digest) == digest)
            .values(
                device_secret_digest=new_digest,
                reprovision_armed_until=None,
                provision_count=ProvisionedDevice.provision_count + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def consume_approval(self, row_id: uuid.UUID, *, new_digest: str, now: datetime) -> bool:
        """Use the owner's approval once: only the request that clears it may re-provision."""
        result = await self._session.execute(
            update(ProvisionedDevice)
            .where(
                col(ProvisionedDevice.id) == row_id,
                col(ProvisionedDevice.reprovision_armed_until).is_not(None),
                col(ProvisionedDevice.reprovision_armed_until) > now,
            )
            .values(
                device_secret_digest=new_digest,
                reprovision_armed_until=None,
                provision_count=ProvisionedDevice.provision_count + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def save(self, row: ProvisionedDevice) -> ProvisionedDevice:
        self._session.add(row)
        await self._session.flush()
        return row
