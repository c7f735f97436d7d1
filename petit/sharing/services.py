"""Shares (an owner invites others by e-mail, with a role) and transfers (an owner hands the device over).

ThingsBoard CE cannot express either (a device belongs to one customer), so both live in petit: a share is
a ``device_shares`` row that :class:`petit.devices.services.DeviceLookup` reads, and a transfer, once
accepted, is a :meth:`petit.devices.lifecycle.DeviceLifecycle.transfer` that reassigns the device on
ThingsBoard too. Every change is a device event in the request's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from petit.audit.services import DeviceEventService, Outcome
from petit.db.models import DeviceShare, DeviceTransfer, ShareState
from petit.devices.errors import DeviceNotFoundError, DeviceRoleForbiddenError
from petit.devices.lifecycle import Actor, credentials_read, device_read
from petit.devices.ownership import PROCESS_OWNERSHIP
from petit.devices.roles import Capability, Role
from petit.lib.clock import as_utc
from petit.sharing import errors
from petit.sharing.repositories import ShareRepository, TransferRepository
from petit.sharing.schemas import (
    IncomingShareList,
    IncomingShareRead,
    ShareCreate,
    ShareList,
    ShareRead,
    TransferAccepted,
    TransferRead,
)

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from petit.db.models import Device, User
    from petit.db.models.device_share import ShareRole
    from petit.devices.lifecycle import DeviceLifecycle
    from petit.devices.repositories import DeviceRepository
    from petit.devices.services import DeviceLookup
    from petit.lib.clock import Clock
    from petit.settings import SharingSettings

SHARING_FLOW = "sharing"
TRANSFER_FLOW = "transfer"


def share_read(share: DeviceShare, now: datetime) -> ShareRead:
    accepted = share.state == ShareState.ACCEPTED.value
    expires_at = as_utc(share.expires_at)
    status = "accepted" if accepted else ("pending" if expires_at > now else "expired")
    return ShareRead(
        id=share.id,
        device_id=share.device_id,
        email=share.invitee_email,
        role=share.role,
        status=status,
        created_at=share.created_at,
        expires_at=None if accepted else expires_at,
    )


@dataclass(frozen=True, slots=True)
class StreamChange:
    """Who must hear about a change on their open streams once it commits (platform device id)."""

    platform_device_id: uuid.UUID
    granted: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    revoked: list[tuple[uuid.UUID, str]] = field(default_factory=list)


class SharingService:
    def __init__(
        self,
        *,
        session: AsyncSession,
        lookup: DeviceLookup,
        devices: DeviceRepository,
        clock: Clock,
        settings: SharingSettings,
    ) -> None:
        self._lookup = lookup
        self._devices = devices
        self._shares = ShareRepository(session)
        self._transfers = TransferRepository(session)
        self._events = DeviceEventService(session=session, clock=clock)
        self._clock = clock
        self._settings = settings

    async def _record(
        self, device: Device, action: str, actor: Actor, details: dict[str, Any], *, flow: str = SHARING_FLOW
    ) -> None:
        await self._events.record(
            flow=flow,
            action=action,
            outcome=Outcome.SUCCEEDED,
            platform_device_id=device.platform_device_id,
            actor_user_id=actor.user_id,
            client_ip=actor.client_ip,
            details={"deviceId": str(device.id), **details},
        )

    # -- The owner's side ------------------------------------------------------------------------------

    async def share(self, actor: Actor, device_id: uuid.UUID, data: ShareCreate) -> ShareRead:
        assert actor.user_id is not None
        device = await self._lookup.get_owned(actor.user_id, device_id)
        if data.email == await self._devices.owner_email(device):
            raise errors.ShareWithSelfError
        # Seats are counted then taken: concurrent invitations queue on the device row (SQLite writes are
        # serialized anyway), so the limit holds exactly.
        await self._devices.lock(device.id)
        now = self._clock.now()
        existing = await self._shares.find(device.id, data.email)
        if existing is not None:
            if existing.state == ShareState.ACCEPTED.value or as_utc(existing.expires_at) > now:
                raise errors.ShareExistsError
            await self._shares.remove(existing.id)  # a lapsed invitation is simply replaced
        if await self._shares.count_holding(device.id, now) + 1 >= self._settings.max_users_per_device:
            raise errors.ShareLimitReachedError
        share = DeviceShare(
            device_id=device.id,
            invitee_email=data.email,
            role=data.role.value,
            state=ShareState.PENDING.value,
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(seconds=self._settings.invitation_ttl_s),
        )
        await self._shares.add(share)
        await self._record(
            device, "invite", actor, {"shareId": str(share.id), "email": data.email, "role": data.role.value}
        )
        return share_read(share, now)

    async def list_shares(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> ShareList:
        device = await self._lookup.get_owned(owner_id, device_id)
        now = self._clock.now()
        items = [share_read(s, now) for s in await self._shares.for_device(device.id)]
        return ShareList(items=items, max_users=self._settings.max_users_per_device)

    async def _device_share(self, device: Device, share_id: uuid.UUID) -> DeviceShare:
        share = await self._shares.get(share_id)
        if share is None or share.device_id != device.id:
            raise errors.ShareNotFoundError
        return share

    async def update(
        self, actor: Actor, device_id: uuid.UUID, share_id: uuid.UUID, role: ShareRole
    ) -> ShareRead:
        assert actor.user_id is not None
        device = await self._lookup.get_owned(actor.user_id, device_id)
        share = await self._device_share(device, share_id)
        before = share.role
        # Before the change is flushed, so no read in this process keeps serving the old role.
        PROCESS_OWNERSHIP.forget(device.id)
        now = self._clock.now()
        if not await self._shares.set_role(share.id, role.value, now):
            raise errors.ShareNotFoundError
        share.role, share.updated_at = role.value, now
        await self._record(
            device, "change_role", actor, {"shareId": str(share.id), "from": before, "to": role.value}
        )
        return share_read(share, now)

    async def revoke(self, actor: Actor, device_id: uuid.UUID, share_id: uuid.UUID) -> StreamChange:
        """The owner revokes any share of the device; a member or viewer may revoke (leave) their own."""
        assert actor.user_id is not None
        device, role = await self._lookup.get_access(actor.user_id, device_id, Capability.READ)
        share = await self._device_share(device, share_id)
        if role is not Role.OWNER and share.user_id != actor.user_id:
            raise DeviceRoleForbiddenError
        PROCESS_OWNERSHIP.forget(device.id)
        if not await self._shares.remove(share.id):
            raise errors.ShareNotFoundError  # revoked or declined by a concurrent request
        action = "revoke" if role is Role.OWNER else "leave"
        await self._record(device, action, actor, {"shareId": str(share.id), "email": share.invitee_email})
        change = StreamChange(device.platform_device_id)
        if share.user_id is not None and share.state == ShareState.ACCEPTED.value:
            change.revoked.append((share.user_id, action))
        return change

    # -- The invitee's side ----------------------------------------------------------------------------

    async def incoming(self, user: User) -> IncomingShareList:
        now = self._clock.now()
        items = [
            IncomingShareRead(
                id=share.id,
                kind="share",
                device_id=device.id,
                device_name=device.name,
                owner_email=owner_email,
                role=share.role,
                expires_at=share.expires_at,
            )
            for share, device, owner_email in await self._shares.incoming(user.email, now)
        ]
        items += [
            IncomingShareRead(
                id=transfer.id,
                kind="transfer",
                device_id=device.id,
                device_name=device.name,
                owner_email=owner_email,
                role="owner",
                expires_at=transfer.expires_at,
            )
            for transfer, device, owner_email in await self._transfers.incoming(user.email, now)
        ]
        return IncomingShareList(items=items)

    async def _invitation(self, user: User, share_id: uuid.UUID) -> tuple[DeviceShare, Device]:
        share = await self._shares.get(share_id)
        if share is None or share.invitee_email != user.email:
            raise errors.ShareNotFoundError
        if share.state == ShareState.ACCEPTED.value:
            raise errors.ShareAlreadyAcceptedError
        if as_utc(share.expires_at) <= self._clock.now():
            raise errors.ShareExpiredError
        device = await self._devices.get(share.device_id)
        if device is None:
            raise errors.ShareNotFoundError
        return share, device

    async def accept(self, actor: Actor, user: User, share_id: uuid.UUID) -> tuple[ShareRead, StreamChange]:
        share, device = await self._invitation(user, share_id)
        now = self._clock.now()
        if not await self._shares.accept(share.id, user.id, now):
            # A concurrent revoke, decline or accept changed it first: answer as if this came second.
            await self._invitation(user, share_id)
            raise errors.ShareNotFoundError
        share.state, share.user_id, share.updated_at = ShareState.ACCEPTED.value, user.id, now
        await self._record(device, "accept", actor, {"shareId": str(share.id), "role": share.role})
        return share_read(share, now), StreamChange(
            device.platform_device_id, granted=[(user.id, share.role)]
        )

    async def decline(self, actor: Actor, user: User, share_id: uuid.UUID) -> None:
        share, device = await self._invitation(user, share_id)
        if not await self._shares.remove(share.id, state=ShareState.PENDING.value):
            await self._invitation(user, share_id)
            raise errors.ShareNotFoundError
        await self._record(device, "decline", actor, {"shareId": str(share.id)})


class TransferService:
    def __init__(
        self,
        *,
        session: AsyncSession,
        lookup: DeviceLookup,
        devices: DeviceRepository,
        lifecycle: DeviceLifecycle,
        clock: Clock,
        settings: SharingSettings,
    ) -> None:
        self._lookup = lookup
        self._devices = devices
        self._lifecycle = lifecycle
        self._shares = ShareRepository(session)
        self._transfers = TransferRepository(session)
        self._events = DeviceEventService(session=session, clock=clock)
        self._clock = clock
        self._settings = settings

    async def offer(self, actor: Actor, device_id: uuid.UUID, email: str) -> TransferRead:
        """Stored and answered alike whether ``email`` has an account: the owner learns nothing from it."""
        assert actor.user_id is not None
        device = await self._lookup.get_owned(actor.user_id, device_id)
        if email == await self._devices.owner_email(device):
            raise errors.TransferToSelfError
        now = self._clock.now()
        transfer = DeviceTransfer(
            device_id=device.id,
            from_user_id=actor.user_id,
            to_email=email,
            created_at=now,
            expires_at=now + timedelta(seconds=self._settings.transfer_ttl_s),
        )
        await self._transfers.replace(transfer)
        await self._events.record(
            flow=TRANSFER_FLOW,
            action="offer",
            outcome=Outcome.SUCCEEDED,
            platform_device_id=device.platform_device_id,
            actor_user_id=actor.user_id,
            client_ip=actor.client_ip,
            details={"deviceId": str(device.id), "transferId": str(transfer.id), "email": email},
        )
        return TransferRead(id=transfer.id, device_id=device.id, expires_at=transfer.expires_at)

    async def cancel(self, actor: Actor, device_id: uuid.UUID) -> None:
        assert actor.user_id is not None
        device = await self._lookup.get_owned(actor.user_id, device_id)
        if not await self._transfers.remove_for_device(device.id):
            raise errors.TransferNotFoundError
        await self._events.record(
            flow=TRANSFER_FLOW,
            action="cancel",
            outcome=Outcome.SUCCEEDED,
            platform_device_id=device.platform_device_id,
            actor_user_id=actor.user_id,
            client_ip=actor.client_ip,
            details={"deviceId": str(device.id)},
        )

    async def accept(
        self, actor: Actor, user: User, transfer_id: uuid.UUID, *, keep_shares: bool
    ) -> tuple[TransferAccepted, StreamChange, uuid.UUID]:
        """Returns the new owner's view, who must hear what on their streams, and the previous owner."""
        transfer = await self._transfers.get(transfer_id)
        if transfer is None or transfer.to_email != user.email:
            raise errors.TransferNotFoundError
        if as_utc(transfer.expires_at) <= self._clock.now():
            raise errors.TransferExpiredError
        device = await self._devices.get(transfer.device_id)
        if device is None or device.owner_id != transfer.from_user_id:
            raise errors.TransferNotFoundError
        previous_owner = device.owner_id
        change = StreamChange(device.platform_device_id, granted=[(user.id, Role.OWNER.value)])

        async def write() -> None:
            if not await self._transfers.spend(transfer.id):
                raise errors.TransferNotFoundError  # cancelled while this request ran
            # The new owner needs no share of their own device.
            await self._shares.remove_for(device.id, user_id=user.id, email=user.email)
            if not keep_shares:
                dropped = await self._shares.remove_all(device.id)
                change.revoked.extend(
                    (s.user_id, "transferred")
                    for s in dropped
                    if s.user_id is not None and s.state == ShareState.ACCEPTED.value
                )

        try:
            credentials = await self._lifecycle.transfer(
                device,
                user,
                actor=actor,
                details={
                    "deviceId": str(device.id),
                    "transferId": str(transfer.id),
                    "fromUserId": str(previous_owner),
                    "keptShares": keep_shares,
                },
                write=write,
            )
        except DeviceNotFoundError as exc:
            # Released, deleted or accepted by a concurrent request: the offer is gone for this caller.
            raise errors.TransferNotFoundError from exc
        result = TransferAccepted(
            device=device_read(device), credentials=credentials_read(device, credentials)
        )
        return result, change, previous_owner
