"""Which devices a user may stream, as ``{platform id: the id the app knows}``.

petit's ``devices`` rows (owned, or shared with the user and accepted) name each device by petit's id;
devices assigned to the user's ThingsBoard customer without a row (claimed outside petit) are streamed under
their platform id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from petit.db.models import Device, DeviceShare, ShareState
from petit.users.repositories import UserRepository

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.thingsboard.port import ThingsBoardPort

_PAGE = 100


class ThingsBoardDirectory:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], thingsboard: ThingsBoardPort) -> None:
        self._sessionmaker = sessionmaker
        self._thingsboard = thingsboard

    async def owned_devices(self, user_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
        async with self._sessionmaker() as session:
            user = await UserRepository(session).get(user_id)
            if user is None:
                return {}
            shared = sa.select(col(DeviceShare.device_id)).where(
                col(DeviceShare.user_id) == user_id, col(DeviceShare.state) == ShareState.ACCEPTED.value
            )
            rows = await session.execute(
                sa.select(col(Device.platform_device_id), col(Device.id)).where(
                    sa.or_(col(Device.owner_id) == user_id, col(Device.id).in_(shared))
                )
            )
            found: dict[uuid.UUID, uuid.UUID] = {row[0]: row[1] for row in rows.all()}
        owner = await self._thingsboard.find_owner(user.email)
        if owner is None:
            return found
        page = 0
        while True:
            result = await self._thingsboard.list_devices(page=page, page_size=_PAGE, owner_id=owner.owner_id)
            for device in result.items:
                found.setdefault(device.id, device.id)
            if not result.has_next:
                return found
            page += 1


class NoDevices:
    """ThingsBoard not configured: nobody owns anything, streams stay quiet."""

    async def owned_devices(self, user_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
        return {}
