from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, select

from petit.db.models import RefreshToken

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class SpentToken:
    user_id: uuid.UUID
    family_id: uuid.UUID


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: RefreshToken) -> None:
        self._session.add(token)
        await self._session.flush()

    async def spend(self, token_hash: str, *, now: datetime) -> SpentToken | None:
        """Mark a live token used and return whose it was; ``None`` when it is not live.

        A single conditional UPDATE, so two concurrent refreshes with one token cannot both succeed.
        """
        stmt = (
            update(RefreshToken)
            .where(
                col(RefreshToken.token_hash) == token_hash,
                col(RefreshToken.used_at).is_(None),
                col(RefreshToken.revoked_at).is_(None),
                col(RefreshToken.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(RefreshToken.user_id), col(RefreshToken.family_id))
        )
        row = (await self._session.execute(stmt)).one_or_none()
        return None if row is None else SpentToken(user_id=row[0], family_id=row[1])

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        result = await self._session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def revoke_family(self, family_id: uuid.UUID, *, now: datetime) -> None:
        await self._session.execute(
            update(RefreshToken)
            .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )
