from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col

from petit.db.models import ClaimCode

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


class ClaimCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def spend(self, code_id: uuid.UUID, *, platform_device_id: uuid.UUID, now: datetime) -> bool:
        """Mark the code used, only if it still is not: of two racing uses, exactly one gets True."""
        result = await self._session.execute(
            update(ClaimCode)
            .where(col(ClaimCode.id) == code_id, col(ClaimCode.used_at).is_(None))
            .values(used_at=now, platform_device_id=platform_device_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
