"""Recording and reading device events."""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any

from petit.audit.repositories import DeviceEventRepository
from petit.db.models import DeviceEvent
from petit.lib.clock import as_utc

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession

    from petit.db.models import Device
    from petit.lib.clock import Clock

log = logging.getLogger(__name__)


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
    """Records each event in the session of the change it describes, so the two commit (or roll back)
    together on every backend. A refusal that must stand although the request fails (a wrong secret, a
    throttled attempt) is recorded with ``keep=True``, which commits it before the caller raises."""

    def __init__(self, *, session: AsyncSession, clock: Clock) -> None:
        self._session = session
        self._clock = clock

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
        keep: bool = False,
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
        self._session.add(event)
        if keep:
            # Refusals come before any change of the request's, so this commits the event and nothing else
            # the caller would want rolled back; the error raised next rolls back whatever follows.
            await self._session.commit()
        else:
            await self._session.flush()
        log.info(
            "device_event flow=%s action=%s outcome=%s reason=%s device=%s",
            flow,
            action,
            event.outcome,
            reason,
            platform_device_id or device_ref,
        )
        return event


class DeviceEventReader:
    """The owner's view of a device: what happened to it since it became theirs (created, or transferred
    to them), plus what they did themselves before (the pairing, claim or share acceptance that led there).
    A later owner never sees who handled it before. Anyone it is shared with sees only their own actions."""

    def __init__(self, session: AsyncSession) -> None:
        self._events = DeviceEventRepository(session)

    async def list_for(
        self, device: Device, *, reader_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[DeviceEvent], int]:
        since = None
        if reader_id == device.owner_id:
            since = as_utc(device.owned_since or device.created_at)
        return await self._events.list_for_device(
            device.platform_device_id, since=since, actor_user_id=reader_id, limit=limit, offset=offset
        )
