from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, update
from sqlmodel import col, select

from petit.db.models import GatewayApiKey, ProvisioningToken

if TYPE_CHECKING:
    import uuid
    from datetime import datetime
    from typing import Any

    from sqlalchemy.ext.asyncio import AsyncSession


class ProvisioningTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: ProvisioningToken) -> ProvisioningToken:
        self._session.add(token)
        await self._session.flush()
        return token

    async def by_digest(self, digest: str) -> ProvisioningToken | None:
        result = await self._session.execute(
            select(ProvisioningToken).where(col(ProvisioningToken.token_digest) == digest)
        )
        return result.scalar_one_or_none()

    async def redeem(
        self, token_id: uuid.UUID, *, now: datetime, client_ip: str, metadata: dict[str, Any]
    ) -> bool:
        """Mark the token used, only if nobody did first: of two racing claims exactly one gets True."""
        result = await self._session.execute(
            update(ProvisioningToken)
            .where(col(ProvisioningToken.id) == token_id, col(ProvisioningToken.claimed_at).is_(None))
            .values(claimed_at=now, claim_ip=client_ip, device_metadata=metadata)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claims(self, device_id: uuid.UUID, *, limit: int) -> list[ProvisioningToken]:
        result = await self._session.execute(
            select(ProvisioningToken)
            .where(
                col(ProvisioningToken.device_id) == device_id, col(ProvisioningToken.claimed_at).is_not(None)
            )
            .order_by(col(ProvisioningToken.claimed_at).desc(), col(ProvisioningToken.id))
            .limit(limit)
        )
        return list(result.scalars().all())


class GatewayApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_digest(self, digest: str) -> GatewayApiKey | None:
        result = await self._session.execute(
            select(GatewayApiKey).where(col(GatewayApiKey.key_digest) == digest)
        )
        return result.scalar_one_or_none()

    async def replace(self, device_id: uuid.UUID, digest: str, *, now: datetime) -> None:
        """The device's only key from now on; the previous one stops working in the same transaction."""
        await self._session.execute(delete(GatewayApiKey).where(col(GatewayApiKey.device_id) == device_id))
        self._session.add(GatewayApiKey(device_id=device_id, key_digest=digest, created_at=now))
        await self._session.flush()
