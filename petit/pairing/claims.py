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

from petit.audit.services import Outcome
from petit.db.models import ClaimCode, Device
from petit.devices.errors import DeviceNameTakenError
from petit.devices.repositories import DeviceRepository
from petit.devices.services import device_read
from petit.lib.clock import as_utc
from petit.lib.secrets import new_code, normalize_code
from petit.lib.throttle import Subjects, TooManyAttemptsError
from petit.pairing.common import ownership_attributes, show_ownership
from petit.pairing.errors import (
    ClaimCodeExpiredError,
    ClaimCodeInvalidError,
    ClaimCodeUsedError,
    ClaimDeviceNotFoundError,
    ClaimInProgressError,
    ClaimRejectedError,
    DeviceAlreadyOwnedError,
)
from petit.pairing.schemas import ClaimCodeCreated
from petit.thingsboard.errors import (
    ThingsBoardClaimRejectedError,
    ThingsBoardConflictError,
    ThingsBoardError,
    ThingsBoardNotFoundError,
)

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from petit.audit.services import DeviceEventService
    from petit.db.models import User
    from petit.devices.schemas import DeviceRead
    from petit.errors import PetitError
    from petit.lib.cache import Cache
    from petit.lib.clock import Clock
    from petit.lib.secrets import SecretHasher
    from petit.lib.throttle import AttemptThrottle
    from petit.thingsboard.port import ThingsBoardPort
    from petit.users.linking import PlatformLinker

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
        linker: PlatformLinker,
        hasher: SecretHasher,
        throttle: AttemptThrottle,
        events: DeviceEventService,
        cache: Cache,
        clock: Clock,
        code_ttl_s: int,
    ) -> None:
        self._session = session
        self._tb = thingsboard
        self._linker = linker
        self._hasher = hasher
        self._throttle = throttle
        self._events = events
        self._cache = cache
        self._clock = clock
        self._ttl = timedelta(seconds=code_ttl_s)

    async def create_code(self, user: User, *, client_ip: str | None) -> ClaimCodeCreated:
        try:
            await self._throttle.check(Subjects(user_id=user.id, client_ip=client_ip))
        except TooManyAttemptsError:
            await self._audit("create_code", Outcome.THROTTLED, user=user, client_ip=client_ip)
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
            await audit(Outcome.THROTTLED)
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
            await audit(outcome, reason=refusal.code if refusal else None)
            raise refusal or ClaimCodeInvalidError()
        # One claim per device at a time, across every petit process: the first counter hit holds the device.
        lock = f"claim:lock:{device_name}"
        held, _ = await self._cache.hit(lock, window_s=_CLAIM_LOCK_S)
        if held > 1:
            await audit(Outcome.REFUSED, reason=ClaimInProgressError.code)
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
            await audit(Outcome.REFUSED, reason=reason)
            raise DeviceAlreadyOwnedError
        devices = DeviceRepository(self._session)
        if await devices.get_by_name(user.id, device_name) is not None:
            raise DeviceNameTakenError
        await self._linker.ensure_linked(user)
        if user.platform_account_id is None:  # ensure_linked sets it or raises
            raise ClaimRejectedError
        now = self._clock.now()
        # Spent before ThingsBoard is asked: a code gets one try against the platform, whatever the answer.
        row.used_at = now
        row.platform_device_id = record.id
        try:
            await self._tb.claim_device(user.platform_account_id, device_name, code)
        except ThingsBoardClaimRejectedError as exc:
            await self._throttle.failed(subjects)
            await audit(Outcome.FAILED, reason="claim_rejected")
            raise ClaimRejectedError from exc
        except ThingsBoardConflictError as exc:
            await audit(Outcome.REFUSED, reason="owned_by_someone_else")
            raise DeviceAlreadyOwnedError from exc
        device = Device(
            owner_id=user.id,
            platform_device_id=record.id,
            name=device_name[:64],
            label=record.label,
            extra={},
            created_at=now,
            updated_at=now,
        )
        try:
            await devices.add(device)
        except IntegrityError as exc:
            await self._unassign_quietly(record.id)
            await audit(Outcome.REFUSED, reason="owned_by_someone_else")
            raise DeviceAlreadyOwnedError from exc
        except BaseException:
            await self._unassign_quietly(record.id)
            raise
        await show_ownership(
            self._tb,
            record.id,
            ownership_attributes(state="claimed", owner=user.email, flow=CLAIM_FLOW, at=now),
        )
        await audit(Outcome.SUCCEEDED, details={"deviceId": str(device.id)})
        log.info("claim.completed device_id=%s owner_id=%s", device.id, user.id)
        return device_read(device)

    async def _unassign_quietly(self, platform_id: uuid.UUID) -> None:
        try:
            await self._tb.unassign_device(platform_id)
        except ThingsBoardError:
            log.exception("claim.compensation_failed platform_id=%s", platform_id)

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
    ) -> None:
        await self._events.record(
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
    """The owner lets a device go: unassigned in ThingsBoard, its access token rotated (the old one stops
    working), petit's row deleted. A new pairing, claim or provisioning then makes it someone else's."""

    def __init__(
        self,
        *,
        session: AsyncSession,
        thingsboard: ThingsBoardPort,
        events: DeviceEventService,
        clock: Clock,
    ) -> None:
        self._devices = DeviceRepository(session)
        self._tb = thingsboard
        self._events = events
        self._clock = clock

    async def release(self, user: User, device: Device, *, client_ip: str | None) -> None:
        platform_id = device.platform_device_id
        try:
            record = await self._tb.get_device(platform_id)
        except ThingsBoardNotFoundError:
            record = None
        if record is not None:
            # Each step is repeatable, so a failure half-way is finished by the owner's retry.
            if record.owner_id is not None:
                await self._tb.unassign_device(platform_id)
            await self._tb.rotate_credentials(platform_id)
            await show_ownership(self._tb, platform_id, ownership_attributes(state="released", owner=""))
        await self._devices.delete(device)
        await self._events.record(
            flow=OWNERSHIP_FLOW,
            action="release",
            outcome=Outcome.SUCCEEDED,
            actor_user_id=user.id,
            client_ip=client_ip,
            platform_device_id=platform_id,
            details={"deviceId": str(device.id)},
        )
        log.info("device.released device_id=%s owner_id=%s", device.id, user.id)
