"""Claim codes (seed 000, over ThingsBoard's claiming) and releasing a device (unpairing / transfer).

ThingsBoard lets any customer user release ("reclaim") any device of the tenant (its issue 6742), so petit
never exposes that call and never lets a claim through for a device that has an owner, in ThingsBoard or in
petit: a device changes hands only after its owner released it.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from petit.audit.services import DeviceEventService, Outcome
from petit.db.models import ClaimCode, Device
from petit.devices.errors import DeviceNameTakenError
from petit.devices.lifecycle import Actor, DeviceLifecycle, device_read
from petit.devices.repositories import DeviceRepository
from petit.lib.clock import as_utc
from petit.lib.secrets import new_code, normalize_code
from petit.lib.throttle import Subjects, TooManyAttemptsError
from petit.pairing.common import ownership_attributes
from petit.pairing.errors import (
    ClaimCodeExpiredError,
    ClaimCodeInvalidError,
    ClaimCodeUsedError,
    ClaimDeviceNotFoundError,
    ClaimInProgressError,
    ClaimRejectedError,
    DeviceAlreadyOwnedError,
)
from petit.pairing.repositories import ClaimCodeRepository
from petit.pairing.schemas import ClaimCodeCreated
from petit.thingsboard.errors import ThingsBoardClaimRejectedError, ThingsBoardConflictError

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from petit.db.models import User
    from petit.devices.schemas import DeviceRead
    from petit.errors import PetitError
    from petit.lib.cache import Cache
    from petit.lib.clock import Clock
    from petit.lib.secrets import SecretHasher
    from petit.lib.throttle import AttemptThrottle
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

CLAIM_FLOW = "claim"
OWNERSHIP_FLOW = "ownership"
#: How long one claim may hold a device before another may try; far above any real claim's duration.
_CLAIM_LOCK_S = 30


class ClaimService:
    def __init__(
        self,
        *,
        session: AsyncSession,
        thingsboard: ThingsBoardPort,
        lifecycle: DeviceLifecycle,
        hasher: SecretHasher,
        throttle: AttemptThrottle,
        cache: Cache,
        clock: Clock,
        code_ttl_s: int,
    ) -> None:
        self._session = session
        self._tb = thingsboard
        self._lifecycle = lifecycle
        self._hasher = hasher
        self._throttle = throttle
        self._events = DeviceEventService(session=session, clock=clock)
        self._cache = cache
        self._clock = clock
        self._ttl = timedelta(seconds=code_ttl_s)

    async def create_code(self, user: User, *, client_ip: str | None) -> ClaimCodeCreated:
        try:
            await self._throttle.check(Subjects(user_id=user.id, client_ip=client_ip))
        except TooManyAttemptsError:
            await self._audit("create_code", Outcome.THROTTLED, user=user, client_ip=client_ip, keep=True)
            raise
        now = self._clock.now()
        code = new_code()
        row = ClaimCode(
            user_id=user.id,
            code_hash=self._hasher.code_digest(code),
            created_at=now,
            expires_at=now + self._ttl,
        )
        self._session.add(row)
        await self._session.flush()
        await self._audit("create_code", Outcome.SUCCEEDED, user=user, client_ip=client_ip)
        return ClaimCodeCreated(claim_code=code, expires_at=row.expires_at)

    async def claim(self, user: User, device_name: str, code: str, *, client_ip: str | None) -> DeviceRead:
        subjects = Subjects(user_id=user.id, device=f"name:{device_name}", client_ip=client_ip)
        audit = functools.partial(
            self._audit, "claim", user=user, client_ip=client_ip, device_ref=device_name
        )
        try:
            await self._throttle.check(subjects)
        except TooManyAttemptsError:
            await audit(Outcome.THROTTLED, keep=True)
            raise
        row = await self._session.scalar(
            # A bearer secret, like the code printed on a device: whoever holds it may claim, once. The row
            # lock makes two simultaneous uses of one code queue up, so the second sees it spent.
            select(ClaimCode)
            .where(col(ClaimCode.code_hash) == self._hasher.code_digest(code))
            .with_for_update()
        )
        refusal: PetitError | None = None
        if row is None:
            refusal = ClaimCodeInvalidError()
        elif row.used_at is not None:
            refusal = ClaimCodeUsedError()
        elif as_utc(row.expires_at) <= self._clock.now():
            refusal = ClaimCodeExpiredError()
        if refusal is not None or row is None:
            await self._throttle.failed(subjects)
            outcome = Outcome.EXPIRED if isinstance(refusal, ClaimCodeExpiredError) else Outcome.FAILED
            await audit(outcome, reason=refusal.code if refusal else None, keep=True)
            raise refusal or ClaimCodeInvalidError()
        # One claim per device at a time, across every petit process: the first counter hit holds the device.
        lock = f"claim:lock:{device_name}"
        held, _ = await self._cache.hit(lock, window_s=_CLAIM_LOCK_S)
        if held > 1:
            await audit(Outcome.REFUSED, reason=ClaimInProgressError.code, keep=True)
            raise ClaimInProgressError
        try:
            return await self._claim_locked(
                user=user,
                device_name=device_name,
                code=normalize_code(code),
                row=row,
                subjects=subjects,
                client_ip=client_ip,
            )
        finally:
            await self._cache.delete(lock)

    async def _claim_locked(
        self,
        *,
        user: User,
        device_name: str,
        code: str,
        row: ClaimCode,
        subjects: Subjects,
        client_ip: str | None,
    ) -> DeviceRead:
        record = await self._tb.find_device(device_name)
        if record is None:
            await self._throttle.failed(subjects)
            await self._audit(
                "claim",
                Outcome.FAILED,
                reason="unknown_device",
                user=user,
                client_ip=client_ip,
                device_ref=device_name,
                keep=True,
            )
            raise ClaimDeviceNotFoundError
        audit = functools.partial(
            self._audit, "claim", user=user, client_ip=client_ip, platform_device_id=record.id
        )
        petit_owner = await self._session.scalar(
            select(Device.owner_id).where(col(Device.platform_device_id) == record.id)
        )
        if record.owner_id is not None or petit_owner is not None:
            reason = "already_yours" if petit_owner == user.id else "owned_by_someone_else"
            await audit(Outcome.REFUSED, reason=reason, keep=True)
            raise DeviceAlreadyOwnedError
        if await DeviceRepository(self._session).get_by_name(user.id, device_name) is not None:
            raise DeviceNameTakenError
        row_id = row.id

        async def spend() -> None:
            # A conditional update after the intent's commit released the row lock: of two uses of one code,
            # one spends it. Spent before ThingsBoard is asked: a code gets one try against the platform.
            if not await ClaimCodeRepository(self._session).spend(
                row_id, platform_device_id=record.id, now=self._clock.now()
            ):
                raise ClaimCodeUsedError

        now = self._clock.now()
        try:
            device = await self._lifecycle.claim(
                user,
                record,
                name=device_name,
                secret=code,
                spend=spend,
                status=ownership_attributes(state="claimed", owner=user.email, flow=CLAIM_FLOW, at=now),
                actor=Actor(flow=CLAIM_FLOW, user_id=user.id, client_ip=client_ip),
            )
        except ThingsBoardClaimRejectedError as exc:
            await self._throttle.failed(subjects)
            await audit(Outcome.FAILED, reason="claim_rejected")
            raise ClaimRejectedError from exc
        except (ThingsBoardConflictError, IntegrityError) as exc:
            # Kept with the spent code: like a rejection, the code had its one try against the platform.
            await audit(Outcome.REFUSED, reason="owned_by_someone_else", keep=True)
            raise DeviceAlreadyOwnedError from exc
        log.info("claim.completed device_id=%s owner_id=%s", device.id, user.id)
        return device_read(device)

    async def _audit(
        self,
        action: str,
        outcome: Outcome,
        *,
        user: User,
        client_ip: str | None,
        reason: str | None = None,
        device_ref: str | None = None,
        platform_device_id: uuid.UUID | None = None,
        details: dict[str, str] | None = None,
        keep: bool = False,
    ) -> None:
        await self._events.record(
            keep=keep,
            flow=CLAIM_FLOW,
            action=action,
            outcome=outcome,
            reason=reason,
            actor_user_id=user.id,
            client_ip=client_ip,
            device_ref=device_ref,
            platform_device_id=platform_device_id,
            details=details,
        )


class ReleaseService:
    """The owner lets a device go (see ``DeviceLifecycle.release``). A new pairing, claim or provisioning then
    makes it someone else's."""

    def __init__(self, *, lifecycle: DeviceLifecycle) -> None:
        self._lifecycle = lifecycle

    async def release(self, user: User, device: Device, *, client_ip: str | None) -> None:
        await self._lifecycle.release(
            user,
            device,
            actor=Actor(flow=OWNERSHIP_FLOW, user_id=user.id, client_ip=client_ip),
            status=ownership_attributes(state="released", owner=""),
        )
