from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, or_
from sqlmodel import col, select

from petit.db.models import DeviceEvent

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


class DeviceEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, event: DeviceEvent) -> DeviceEvent:
        self._session.add(event)
        await self._session.flush()
        return event

    async def list_for_device(
        self,
        platform_device_id: uuid.UUID,
        *,
        since: datetime | None,
        actor_user_id: uuid.UUID,
        limit: int,
        offset: int,
    ) -> tuple[list[DeviceEvent], int]:
        """Events of the device at or after ``since``, and any earlier ones ``actor_user_id`` performed; with
        no ``since``, only the latter."""
        mine = col(DeviceEvent.actor_user_id) == actor_user_id
        where = [
            col(DeviceEvent.platform_device_id) == platform_device_id,
            mine if since is None else or_(col(DeviceEvent.occurred_at) >= since, mine),
        ]
        total = await self._session.scalar(select(func.count()).select_from(DeviceEvent).where(*where))
        result = await self._session.execute(
            select(DeviceEvent)
            .where(*where)
            .order_by(col(DeviceEvent.occurred_at).desc(), col(DeviceEvent.id))
            .limit(limit)
            .offset(offset)
        )
        return list(result.scalars().all()), int(total or 0)
