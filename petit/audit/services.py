"""Recording and reading device events."""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import make_transient

from petit.audit.repositories import DeviceEventRepository
from petit.db.models import DeviceEvent
from petit.lib.clock import as_utc

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.db.models import Device
    from petit.lib.clock import Clock

log = logging.getLogger(__name__)

#: Deferred (SQLite) writes retry this often, each after SQLite's own busy wait.
_SQLITE_ATTEMPTS = 6


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    #: The secret or request was wrong (counts towards lockout).
    FAILED = "failed"
    #: Refused by a rule: someone else's device, conflict, not allowed.
    REFUSED = "refused"
    THROTTLED = "throttled"
    EXPIRED = "expired"


#: Keys that must never reach the audit table, whatever a caller passes in ``details``.
_SECRET_KEYS = frozenset(
    {
        "pairkey",
        "ownerkey",
        "accesstoken",
        "access_token",
        "claimcode",
        "claim_code",
        "secret",
        "secretkey",
        "token",
        "api_key",
        "apikey",
        "password",
        "provisionsecret",
        "provision_secret",
    }
)


def _scrub(details: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (details or {}).items() if k.lower() not in _SECRET_KEYS}


class DeviceEventService:
    """Writes each event in its own short transaction, independent of the request's unit of work: a refused
    attempt rolls the request back, yet the refusal is exactly what the audit must keep."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        deferred: set[asyncio.Task[None]] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        # SQLite only: write in the background, once the request's own write lock is gone.
        self._deferred = deferred

    async def record(
        self,
        *,
        flow: str,
        action: str,
        outcome: Outcome | str,
        platform_device_id: uuid.UUID | None = None,
        device_ref: str | None = None,
        actor_user_id: uuid.UUID | None = None,
        client_ip: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> DeviceEvent:
        event = DeviceEvent(
            occurred_at=self._clock.now(),
            flow=flow,
            action=action,
            outcome=str(outcome),
            reason=reason,
            actor_user_id=actor_user_id,
            platform_device_id=platform_device_id,
            device_ref=device_ref[:128] if device_ref else None,
            client_ip=client_ip[:64] if client_ip else None,
            details=_scrub(details),
        )
        if self._deferred is None:
            async with self._sessionmaker() as session:
                session.add(event)
                await session.commit()
        else:
            task = asyncio.create_task(self._store_later(event))
            self._deferred.add(task)
            task.add_done_callback(self._deferred.discard)
        log.info(
            "device_event flow=%s action=%s outcome=%s reason=%s device=%s",
            flow,
            action,
            event.outcome,
            reason,
            platform_device_id or device_ref,
        )
        return event

    async def _store_later(self, event: DeviceEvent) -> None:
        for attempt in range(_SQLITE_ATTEMPTS):
            try:
                async with self._sessionmaker() as session:
                    session.add(event)
                    await session.commit()
            except OperationalError:
                # Locked by a request that is still running (SQLite waits its busy timeout first).
                if attempt + 1 == _SQLITE_ATTEMPTS:
                    log.exception("device_event not stored flow=%s action=%s", event.flow, event.action)
                    return
                make_transient(event)
            else:
                return


class DeviceEventReader:
    """The owner's view of a device: what happened to it since it became theirs, plus what they did themselves
    before (the pairing or claim that made it theirs). A later owner never sees who handled it before."""

    def __init__(self, session: AsyncSession) -> None:
        self._events = DeviceEventRepository(session)

    async def list_for(self, device: Device, *, limit: int, offset: int) -> tuple[list[DeviceEvent], int]:
        return await self._events.list_for_device(
            device.platform_device_id,
            since=as_utc(device.created_at),
            actor_user_id=device.owner_id,
            limit=limit,
            offset=offset,
        )
