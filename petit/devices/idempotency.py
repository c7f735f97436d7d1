"""``Idempotency-Key`` for create requests: the first request's response is stored per user and key; a replay
with the same body gets it again, one with a different body is refused."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from petit.db.models import IdempotencyRecord
from petit.devices.errors import IdempotencyKeyInFlightError, IdempotencyKeyReusedError

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from petit.lib.clock import Clock

IDEMPOTENCY_KEY_MAX_LENGTH = 255
DEFAULT_TTL = timedelta(hours=24)


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, session: AsyncSession, clock: Clock, *, ttl: timedelta = DEFAULT_TTL) -> None:
        self._session = session
        self._clock = clock
        self._ttl = ttl

    async def begin(
        self, owner_id: uuid.UUID, operation: str, key: str, body_hash: str
    ) -> tuple[IdempotencyRecord | None, dict[str, Any] | None]:
        """Reserve ``key``: return ``(reservation, None)`` to go ahead, or ``(None, stored response)``.

        The reservation is a row inserted in the request's own transaction: a concurrent request with the
        same key waits on it in the database and then sees the finished response (or takes over if the first
        one failed and rolled back).
        """
        now = self._clock.now()
        pk = (owner_id, operation, key)
        existing = await self._session.get(IdempotencyRecord, pk)
        if existing is not None and existing.expires_at <= now:
            await self._session.delete(existing)
            await self._session.flush()
            existing = None
        if existing is None:
            record = IdempotencyRecord(
                owner_id=owner_id,
                operation=operation,
                key=key,
                request_hash=body_hash,
                status_code=0,
                response={},
                created_at=now,
                expires_at=now + self._ttl,
            )
            try:
                async with self._session.begin_nested():
                    self._session.add(record)
            except IntegrityError:
                existing = await self._session.get(IdempotencyRecord, pk, populate_existing=True)
                if existing is None:
                    raise IdempotencyKeyInFlightError from None
            else:
                return record, None
        if existing.request_hash != body_hash:
            raise IdempotencyKeyReusedError
        if existing.status_code == 0:
            raise IdempotencyKeyInFlightError
        return None, existing.response

    async def complete(self, record: IdempotencyRecord, status_code: int, response: dict[str, Any]) -> None:
        record.status_code = status_code
        record.response = response
        self._session.add(record)
        await self._session.flush()

    async def purge_expired(self) -> int:
        result = await self._session.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= self._clock.now())
        )
        return int(getattr(result, "rowcount", 0) or 0)
