"""Which devices a user may stream.

Until petit keeps its own ``devices`` table this asks ThingsBoard: the user's customer (found by email) and
the devices assigned to it. ThingsBoard is the system of record for assignment either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

    async def owned_devices(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        async with self._sessionmaker() as session:
            user = await UserRepository(session).get(user_id)
        if user is None:
            return set()
        owner = await self._thingsboard.find_owner(user.email)
        if owner is None:
            return set()
        found: set[uuid.UUID] = set()
        page = 0
        while True:
            result = await self._thingsboard.list_devices(page=page, page_size=_PAGE, owner_id=owner.owner_id)
            found.update(device.id for device in result.items)
            if not result.has_next:
                return found
            page += 1


class NoDevices:
    """ThingsBoard not configured: nobody owns anything, streams stay quiet."""

    async def owned_devices(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        return set()
