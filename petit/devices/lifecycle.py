"""The one owner of a device's life: creating, reserving, adopting, claiming, provisioning, re-keying,
releasing and deleting a device, on ThingsBoard and in petit's tables, happen here and nowhere else.

Every way in (CreateDevice, app-assisted pairing, claim codes, the provisioning-token gateway, MAC
self-provisioning) calls this service, so each step is written once with the same guarantees:

* **Intent before ThingsBoard.** A step that creates or assigns a ThingsBoard device first commits a
  ``DeviceIntent``. The transaction that writes petit's row deletes the intent with it; if that never happens
  (an error, a crash, a lost connection), the undo runs at once where it can and the sweeper
  (``petit.devices.sweeper``) finishes it within a minute otherwise. Nothing is left half-made.
* **Credentials converge.** Re-keying is the last ThingsBoard call of its request: if anything fails after it
  the request rolls back whatever marked the old secret as spent, so a retry with the same input delivers
  fresh credentials.
* **One transaction.** The row, the audit event and the intent's removal commit together.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from petit.audit.services import DeviceEventService, Outcome
from petit.db.models import Device, DeviceIntent, IntentKind, User
from petit.devices.errors import DeviceNameTakenError, DeviceNotFoundError, DeviceStepInterruptedError
from petit.devices.idempotency import IdempotencyStore, request_hash
from petit.devices.naming import platform_device_name, platform_label
from petit.devices.repositories import DeviceIntentRepository, DeviceRepository
from petit.devices.roles import Role
from petit.devices.schemas import DeviceCreate, DeviceCredentialsRead, DeviceRead
from petit.thingsboard.errors import ThingsBoardError, ThingsBoardNotFoundError, ThingsBoardUnavailableError
from petit.users.linking import PlatformLinker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from sqlalchemy.ext.asyncio import AsyncSession

    from petit.lib.clock import Clock
    from petit.thingsboard.models import DeviceCredentials, DeviceRecord, Value
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)
T = TypeVar("T")

CREATE_OPERATION = "CreateDevice"
DEVICE_FLOW = "device"
OWNERSHIP_FLOW = "ownership"
TRANSFER_FLOW = "transfer"
#: Room left in a device name for a " (n)" suffix when the new owner already has one of that name.
_SUFFIX_ROOM = 6


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked, for the audit trail."""

    flow: str
    user_id: uuid.UUID | None = None
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Created:
    record: DeviceRecord
    credentials: DeviceCredentials


def credentials_read(device: Device, credentials: DeviceCredentials) -> DeviceCredentialsRead:
    return DeviceCredentialsRead(
        device_id=device.id,
        access_token=credentials.access_token,
        mqtt_host=credentials.mqtt_host,
        mqtt_port=credentials.mqtt_port,
    )


def device_read(device: Device, *, role: Role = Role.OWNER, owned_by: str | None = None) -> DeviceRead:
    return DeviceRead(
        id=device.id,
        name=device.name,
        label=device.label,
        metadata=device.extra,
        created_at=device.created_at,
        updated_at=device.updated_at,
        role=role,
        owned_by=owned_by,
    )


class DeviceLifecycle:
    """Bound to one unit of work (a request's session, or a background job's)."""

    def __init__(self, *, session: AsyncSession, thingsboard: ThingsBoardPort, clock: Clock) -> None:
        self._session = session
        self._tb = thingsboard
        self._clock = clock
        self._devices = DeviceRepository(session)
        self._intents = DeviceIntentRepository(session)
        self._events = DeviceEventService(session=session, clock=clock)
        self._linker = PlatformLinker(thingsboard, clock)

    # -- intents -------------------------------------------------------------------------------------

    async def _intend(
        self,
        kind: IntentKind,
        platform_name: str,
        *,
        row_id: uuid.UUID | None = None,
        platform_device_id: uuid.UUID | None = None,
    ) -> DeviceIntent:
        intent = DeviceIntent(
            kind=kind.value,
            platform_name=platform_name,
            row_id=row_id,
            platform_device_id=platform_device_id,
            created_at=self._clock.now(),
        )
        self._session.add(intent)
        # Durable before ThingsBoard is touched: from here on a crash leaves a record the sweeper acts on.
        # Callers reach this point before they change anything, so only the intent (and reads) commit.
        await self._session.commit()
        return intent

    async def _settle(self, intent: DeviceIntent) -> None:
        """In the transaction that completes the step. Gone already means the sweeper judged the step
        abandoned and undid it: this request must then fail too, or its row would name an undone device."""
        if not await self._intents.remove(intent.id):
            raise DeviceStepInterruptedError

    async def _abandon(self, intent: DeviceIntent) -> None:
        """The step is known to have changed nothing on ThingsBoard: forget its intent now."""
        await self._intents.remove(intent.id)
        # Nothing else happened since the intent's own commit, so this commits only its removal.
        await self._session.commit()

    async def _undo_create(self, platform_name: str, platform_id: uuid.UUID | None) -> None:
        """Best effort right away; the intent stays committed, so the sweeper retries what this misses."""
        try:
            if platform_id is None:
                record = await self._tb.find_device(platform_name)
                platform_id = record.id if record is not None else None
            if platform_id is not None:
                await self._tb.delete_device(platform_id)
        except ThingsBoardError as exc:
            log.warning("device.undo_deferred name=%s reason=%s", platform_name, type(exc).__name__)

    async def _create_platform_device(
        self,
        intent: DeviceIntent,
        *,
        owner_id: uuid.UUID | None,
        label: str | None = None,
        profile: str = "default",
        access_token: str | None = None,
    ) -> Created:
        try:
            record = await self._tb.create_device(
                intent.platform_name,
                owner_id=owner_id,
                label=label,
                profile=profile,
                access_token=access_token,
            )
        except ThingsBoardUnavailableError as exc:
            if exc.request_sent:
                # ThingsBoard may have created it before the answer was lost; found again by its name.
                await self._undo_create(intent.platform_name, None)
            raise
        except ThingsBoardError:
            # A definite refusal (the name is taken, say) created nothing: the device under that name is
            # someone else's, and the sweeper must not take it for this step's.
            await self._abandon(intent)
            raise
        try:
            credentials = await self._tb.get_credentials(record.id)
        except BaseException:
            await self._undo_create(intent.platform_name, record.id)
            raise
        return Created(record=record, credentials=credentials)

    async def _finish(
        self, intent: DeviceIntent, created: Created, write: Callable[[], Awaitable[Any]]
    ) -> None:
        """Write petit's side of a created device; on any failure undo the ThingsBoard side."""
        try:
            await write()
            await self._settle(intent)
        except BaseException:
            await self._undo_create(intent.platform_name, created.record.id)
            raise

    # -- CreateDevice --------------------------------------------------------------------------------

    async def create(
        self, user: User, data: DeviceCreate, *, idempotency_key: str | None = None
    ) -> DeviceRead:
        device_id = uuid.uuid4()
        # First, before the idempotency reservation: committing the intent must not commit a reservation
        # that a failure below could then never release.
        intent = await self._intend(IntentKind.CREATE, platform_device_name(device_id), row_id=device_id)
        idempotency = IdempotencyStore(self._session, self._clock)
        reservation = None
        if idempotency_key is not None:
            reservation, stored = await idempotency.begin(
                user.id, CREATE_OPERATION, idempotency_key, request_hash(data.model_dump(mode="json"))
            )
            if stored is not None:
                await self._settle(intent)
                return DeviceRead.model_validate(stored)
        if await self._devices.get_by_name(user.id, data.name) is not None:
            raise DeviceNameTakenError
        await self._linker.ensure_linked(user)
        created = await self._create_platform_device(
            intent, owner_id=user.platform_owner_id, label=platform_label(data.name, data.label)
        )
        now = self._clock.now()
        device = Device(
            id=device_id,
            owner_id=user.id,
            platform_device_id=created.record.id,
            name=data.name,
            label=data.label,
            extra=data.metadata,
            created_at=now,
            updated_at=now,
        )

        async def write() -> None:
            try:
                await self._devices.add(device)
            except IntegrityError as exc:
                raise DeviceNameTakenError from exc  # lost a race with a create of the same name
            actor = Actor(flow=DEVICE_FLOW, user_id=user.id)
            await self._succeeded("create", actor, created.record.id, user_id=user.id, device_id=device.id)

        await self._finish(intent, created, write)
        result = device_read(device)
        if reservation is not None:
            await idempotency.complete(reservation, 201, result.model_dump(mode="json", by_alias=True))
        log.info("device.created device_id=%s owner_id=%s", device.id, user.id)
        return result

    # -- App-assisted pairing ------------------------------------------------------------------------

    async def reserve(
        self,
        user: User,
        *,
        platform_name: str,
        row_id: uuid.UUID,
        label: str,
        access_token: str,
        status: Mapping[str, Value],
        write: Callable[[DeviceRecord], Awaitable[Any]],
    ) -> Created:
        """Create the device a pairing holds for ``user`` until the physical device proves itself;
        ``write`` stores the caller's row (the pairing) in the same transaction."""
        await self._linker.ensure_linked(user)
        intent = await self._intend(IntentKind.RESERVE, platform_name, row_id=row_id)
        created = await self._create_platform_device(
            intent, owner_id=user.platform_owner_id, label=label, access_token=access_token
        )

        async def finish() -> None:
            await self._tb.show_status(created.record.id, status)
            await write(created.record)

        await self._finish(intent, created, finish)
        return created

    async def discard_reserved(self, platform_device_id: uuid.UUID) -> None:
        """A pairing ended without a device: its reserved device goes (already gone is fine)."""
        await self._tb.delete_device(platform_device_id)

    async def adopt_reserved(
        self,
        user: User,
        *,
        device_id: uuid.UUID,
        platform_device_id: uuid.UUID,
        name: str,
        label: str | None,
        status: Mapping[str, Value],
        actor: Actor,
        details: Mapping[str, Any],
    ) -> Device | None:
        """The reserved device proved itself: it becomes ``user``'s. None when the name was taken meanwhile.

        Every ThingsBoard step is repeatable and the row commits last, so a failure half-way is finished by
        the next attempt (the pairing stays open until then)."""
        if await self._devices.get_by_name(user.id, name) is not None:
            return None
        now = self._clock.now()
        device = Device(
            id=device_id,
            owner_id=user.id,
            platform_device_id=platform_device_id,
            name=name,
            label=label,
            extra={},
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._session.begin_nested():
                await self._devices.add(device)
        except IntegrityError:
            return None
        # From here on ThingsBoard holds the device under petit's usual name; reconcile pairs it with its row.
        await self._tb.update_device(platform_device_id, name=platform_device_name(device_id))
        await self._tb.clear_pairing_proof(platform_device_id)
        await self._show_status_quietly(platform_device_id, status)
        await self._succeeded(
            "complete", actor, platform_device_id, user_id=user.id, device_id=device_id, details=details
        )
        return device

    # -- Claim codes ---------------------------------------------------------------------------------

    async def claim(
        self,
        user: User,
        record: DeviceRecord,
        *,
        name: str,
        secret: str,
        spend: Callable[[], Awaitable[None]],
        status: Mapping[str, Value],
        actor: Actor,
    ) -> Device:
        """Assign a tenant device to ``user`` through ThingsBoard's claiming. ``spend`` marks the caller's
        one-time code as used, after the intent and before ThingsBoard is asked."""
        await self._linker.ensure_linked(user)
        if user.platform_account_id is None:  # ensure_linked sets it or raises
            raise ThingsBoardNotFoundError("the user has no ThingsBoard account")
        intent = await self._intend(
            IntentKind.CLAIM, record.name, platform_device_id=record.id, row_id=user.platform_owner_id
        )
        await spend()
        # Should ThingsBoard assign it and the answer be lost, the intent leads the sweeper to unassign it.
        await self._tb.claim_device(user.platform_account_id, record.name, secret)
        now = self._clock.now()
        device = Device(
            owner_id=user.id,
            platform_device_id=record.id,
            name=name[:64],
            label=record.label,
            extra={},
            created_at=now,
            updated_at=now,
        )
        try:
            # A savepoint: a lost race (someone's row for this device) leaves the session usable for the
            # caller's refusal record.
            async with self._session.begin_nested():
                await self._devices.add(device)
            await self._settle(intent)
        except BaseException:
            await self._unassign_quietly(record.id)
            raise
        await self._show_status_quietly(record.id, status)
        await self._succeeded("claim", actor, record.id, user_id=user.id, device_id=device.id)
        return device

    async def _unassign_quietly(self, platform_id: uuid.UUID) -> None:
        try:
            await self._tb.unassign_device(platform_id)
        except ThingsBoardError as exc:
            log.warning("claim.undo_deferred platform_id=%s reason=%s", platform_id, type(exc).__name__)

    # -- MAC self-provisioning -----------------------------------------------------------------------

    async def provision(
        self,
        mac: str,
        *,
        profile: str,
        access_token: str,
        status: Mapping[str, Value],
        write: Callable[[DeviceRecord], Awaitable[Any]],
    ) -> Created:
        """Register an unowned device under its MAC; ``write`` stores the caller's row."""
        intent = await self._intend(IntentKind.PROVISION, mac)
        created = await self._create_platform_device(
            intent, owner_id=None, profile=profile, access_token=access_token
        )

        async def finish() -> None:
            await self._tb.show_status(created.record.id, status)
            await write(created.record)

        await self._finish(intent, created, finish)
        return created

    # -- Credentials ---------------------------------------------------------------------------------

    async def credentials(self, device: Device) -> DeviceCredentials:
        return await self._platform_call(device, self._tb.get_credentials(device.platform_device_id))

    async def rekey(
        self,
        device: Device | uuid.UUID,
        *,
        access_token: str | None = None,
        status: Mapping[str, Value] | None = None,
    ) -> DeviceCredentials:
        """Replace the device's access token. Call it last in its request: anything that could still fail
        must come before, so a failure leaves the old secret spent-or-not exactly as the rollback says."""
        platform_id = device if isinstance(device, uuid.UUID) else device.platform_device_id
        if status:
            await self._tb.show_status(platform_id, status)
        call = self._tb.rotate_credentials(platform_id, access_token)
        if isinstance(device, Device):
            credentials = await self._platform_call(device, call)
        else:
            credentials = await call
        log.info("device.credentials_rotated platform_id=%s", platform_id)
        return credentials

    # -- Renaming, releasing, deleting ---------------------------------------------------------------

    async def relabel(self, device: Device, label: str) -> None:
        await self._platform_call(device, self._tb.update_device(device.platform_device_id, label=label))

    async def release(self, user: User, device: Device, *, actor: Actor, status: Mapping[str, Value]) -> None:
        """The owner lets the device go: unassigned in ThingsBoard, its token rotated (the old one stops
        working), petit's row deleted. Each step is repeatable: a failure half-way is finished by a retry."""
        platform_id = device.platform_device_id
        try:
            record = await self._tb.get_device(platform_id)
        except ThingsBoardNotFoundError:
            record = None
        if record is not None:
            if record.owner_id is not None:
                await self._tb.unassign_device(platform_id)
            await self._tb.rotate_credentials(platform_id)
            await self._show_status_quietly(platform_id, status)
        await self._devices.delete(device)
        await self._succeeded("release", actor, platform_id, user_id=user.id, device_id=device.id)
        log.info("device.released device_id=%s owner_id=%s", device.id, user.id)

    async def delete(self, device: Device, *, actor: Actor) -> uuid.UUID:
        """Delete an owned device here and on the platform; returns its platform id."""
        # Row first (flushed, not committed): if ThingsBoard then fails, the request fails and the row stays.
        await self._devices.delete(device)
        platform_id = device.platform_device_id
        await self._succeeded("delete", actor, platform_id, user_id=actor.user_id, device_id=device.id)
        await self._tb.delete_device(device.platform_device_id)
        log.info("device.deleted device_id=%s owner_id=%s", device.id, device.owner_id)
        return device.platform_device_id

    async def _succeeded(
        self,
        action: str,
        actor: Actor,
        platform_device_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None,
        device_id: uuid.UUID,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        details = {"deviceId": str(device_id), **(details or {})}
        await self._events.record(
            flow=actor.flow,
            action=action,
            outcome=Outcome.SUCCEEDED,
            platform_device_id=platform_device_id,
            actor_user_id=user_id,
            client_ip=actor.client_ip,
            details=details,
        )

    # -- Ownership transfer ---------------------------------------------------------------------------

    async def transfer(
        self,
        device: Device,
        recipient: User,
        *,
        actor: Actor,
        details: Mapping[str, Any],
        write: Callable[[], Awaitable[Any]],
        status: Mapping[str, Value] | None = None,
    ) -> DeviceCredentials:
        """Hand ``device`` to ``recipient``: reassigned to their ThingsBoard customer, the row theirs from
        now (``owned_since``), its token rotated. ``write`` does the caller's part (the offer spent, shares
        dropped) in the same transaction.

        Converges like the other steps: the intent is committed before ThingsBoard is touched and settled with
        the row, so a failure anywhere leaves (at once, or by the sweeper) the device assigned to whoever the
        row still names; the recipient's retry does every step again. Re-keying comes last."""
        await self._linker.ensure_linked(recipient)
        if recipient.platform_owner_id is None:  # ensure_linked sets it or raises
            raise ThingsBoardNotFoundError("the user has no ThingsBoard customer")
        previous_owner_id = device.owner_id
        platform_id = device.platform_device_id
        intent = await self._intend(
            IntentKind.TRANSFER,
            platform_device_name(device.id),
            row_id=device.id,
            platform_device_id=platform_id,
        )
        customer = recipient.platform_owner_id

        async def move() -> None:
            await self._platform_call(device, self._tb.assign_device(platform_id, customer))
            name = await self._free_name(recipient.id, device.name)
            now = self._clock.now()
            moved = await self._devices.reassign(
                device, from_owner=previous_owner_id, to_owner=recipient.id, name=name, now=now
            )
            if not moved:
                # Released, deleted or handed elsewhere while this request ran.
                raise DeviceNotFoundError

        try:
            await move()
            await write()
            await self._events.record(
                flow=TRANSFER_FLOW,
                action="accept",
                outcome=Outcome.SUCCEEDED,
                platform_device_id=platform_id,
                actor_user_id=actor.user_id,
                client_ip=actor.client_ip,
                details=details,
            )
            await self._settle(intent)
            credentials = await self.rekey(device, status=status)
        except BaseException:
            await self._restore_assignment(platform_id)
            raise
        log.info("device.transferred device_id=%s to=%s", device.id, recipient.id)
        return credentials

    async def _free_name(self, owner_id: uuid.UUID, name: str) -> str:
        """``name``, or ``name (2)``, ``(3)``... when ``owner_id`` already has a device of that name."""
        candidate = name
        for n in range(2, 100):
            if await self._devices.get_by_name(owner_id, candidate) is None:
                return candidate
            candidate = f"{name[: 64 - _SUFFIX_ROOM]} ({n})"
        raise DeviceNameTakenError

    async def _restore_assignment(self, platform_id: uuid.UUID) -> None:
        """Best effort at once; the committed intent makes the sweeper finish what this misses."""
        try:
            # The failed transaction is of no use any more; a fresh one sees who owns the device now (a
            # concurrent acceptance of the same offer may have won).
            await self._session.rollback()
            await align_assignment(self._session, self._tb, platform_id)
        except ThingsBoardError as exc:
            log.warning("transfer.undo_deferred platform_id=%s reason=%s", platform_id, type(exc).__name__)

    async def _show_status_quietly(self, platform_id: uuid.UUID, status: Mapping[str, Value]) -> None:
        """Best effort: the status is for operators' eyes; ownership itself is already settled."""
        try:
            await self._tb.show_status(platform_id, status)
        except ThingsBoardError as exc:
            log.warning("device.status_not_shown device=%s reason=%s", platform_id, type(exc).__name__)

    async def _platform_call(self, device: Device, call: Awaitable[T]) -> T:
        try:
            return await call
        except ThingsBoardNotFoundError as exc:
            # The row outlived its platform device (deleted in ThingsBoard's UI, or a crash mid-delete):
            # for the user it is gone; `petit reconcile` removes the row.
            log.warning("device.platform_device_missing device_id=%s", device.id)
            raise DeviceNotFoundError("The device no longer exists on the device platform") from exc


async def align_assignment(
    session: AsyncSession, thingsboard: ThingsBoardPort, platform_id: uuid.UUID
) -> None:
    """Make ThingsBoard's assignment of the device match petit: the customer of whoever's row names it, or
    none when no row does (released meanwhile). A device ThingsBoard no longer has needs nothing."""
    owner = (
        await session.execute(
            select(User)
            .join(Device, col(Device.owner_id) == col(User.id))
            .where(col(Device.platform_device_id) == platform_id)
        )
    ).scalar_one_or_none()
    customer = owner.platform_owner_id if owner is not None else None
    try:
        if customer is not None:
            await thingsboard.assign_device(platform_id, customer)
        else:
            await thingsboard.unassign_device(platform_id)
    except ThingsBoardNotFoundError:
        return


__all__ = ["Actor", "Created", "DeviceLifecycle", "align_assignment", "credentials_read", "device_read"]
