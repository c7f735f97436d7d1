"""Device ownership: the rules every device route (and the telemetry/command features) go through.

Reads live in :class:`DeviceLookup`; every write that touches a device's life on ThingsBoard is delegated to
:class:`petit.devices.lifecycle.DeviceLifecycle`, the one owner of those steps.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from petit.devices.errors import DeviceNameTakenError, DeviceNotFoundError, DeviceRoleForbiddenError
from petit.devices.lifecycle import DEVICE_FLOW, Actor, credentials_read, device_read
from petit.devices.naming import (
    PLATFORM_NAME_PREFIX,
    platform_device_name,
    platform_label,
    row_id_from_platform_name,
)
from petit.devices.ownership import OwnedDevice
from petit.devices.roles import Capability, Role, allows
from petit.devices.schemas import DeviceCreate, DeviceCredentialsRead, DevicePage, DeviceRead, DeviceUpdate

if TYPE_CHECKING:
    import uuid

    from petit.db.models import Device, User
    from petit.devices.lifecycle import DeviceLifecycle
    from petit.devices.ownership import OwnershipCache
    from petit.devices.repositories import DeviceRepository
    from petit.lib.clock import Clock

log = logging.getLogger(__name__)


async def require_access(
    devices: DeviceRepository, user_id: uuid.UUID, device_id: uuid.UUID, capability: Capability
) -> tuple[Device, Role]:
    """The device and the caller's role, if that role allows ``capability``: ``DeviceNotFoundError`` without
    any role (as for a missing device), ``DeviceRoleForbiddenError`` when the role is not enough."""
    found = await devices.get_accessible(user_id, device_id)
    if found is None:
        raise DeviceNotFoundError
    if not allows(found[1], capability):
        raise DeviceRoleForbiddenError
    return found


class DeviceLookup:
    """Which devices a user may reach, and with which role; what telemetry, commands and settings check
    before anything else. ``capability`` is what this lookup's callers need (owner-only by default)."""

    def __init__(
        self,
        *,
        devices: DeviceRepository,
        ownership: OwnershipCache | None = None,
        capability: Capability = Capability.MANAGE,
    ) -> None:
        self._devices = devices
        self._ownership = ownership
        self._capability = capability

    async def get_access(
        self, user_id: uuid.UUID, device_id: uuid.UUID, capability: Capability | None = None
    ) -> tuple[Device, Role]:
        """:func:`require_access` with this lookup's capability by default."""
        return await require_access(self._devices, user_id, device_id, capability or self._capability)

    async def get_owned(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> Device:
        """The device if ``owner_id``'s role on it allows this lookup's capability (for the default lookup:
        if they own it); ``DeviceNotFoundError`` when missing or not theirs at all."""
        return (await self.get_access(owner_id, device_id))[0]

    async def get_owned_ref(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> OwnedDevice:
        """Like :meth:`get_owned` for routes that need only the ids, answered from the process's ownership
        cache when it can (staleness bound in petit.devices.ownership)."""
        cached = self._ownership.get(owner_id, device_id) if self._ownership is not None else None
        if cached is not None:
            if not allows(cached.role, self._capability):
                raise DeviceRoleForbiddenError
            return cached
        device, role = await self.get_access(owner_id, device_id)
        owned = OwnedDevice(id=device.id, platform_device_id=device.platform_device_id, role=role)
        if self._ownership is not None:
            self._ownership.remember(owner_id, owned)
        return owned


class DeviceService(DeviceLookup):
    def __init__(
        self,
        *,
        devices: DeviceRepository,
        lifecycle: DeviceLifecycle,
        clock: Clock,
        ownership: OwnershipCache | None = None,
    ) -> None:
        super().__init__(devices=devices, ownership=ownership)
        self._lifecycle = lifecycle
        self._clock = clock

    async def create(
        self, user: User, data: DeviceCreate, *, idempotency_key: str | None = None
    ) -> DeviceRead:
        return await self._lifecycle.create(user, data, idempotency_key=idempotency_key)

    async def list_owned(self, owner_id: uuid.UUID, *, limit: int, offset: int) -> DevicePage:
        """The devices ``owner_id`` owns and those shared with them (accepted), oldest first."""
        found, total = await self._devices.list_accessible(owner_id, limit=limit, offset=offset)
        items = [
            device_read(d, role=role, owned_by=None if role is Role.OWNER else email)
            for d, role, email in found
        ]
        return DevicePage(items=items, total=total, limit=limit, offset=offset)

    async def get(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> DeviceRead:
        device, role = await self.get_access(owner_id, device_id, Capability.READ)
        owned_by = None
        if role is not Role.OWNER:
            owned_by = await self._devices.owner_email(device)
        return device_read(device, role=role, owned_by=owned_by)

    async def update(self, owner_id: uuid.UUID, device_id: uuid.UUID, changes: DeviceUpdate) -> DeviceRead:
        device = await self.get_owned(owner_id, device_id)
        fields = changes.model_fields_set
        old_platform_label = platform_label(device.name, device.label)
        if "name" in fields and changes.name is not None and changes.name != device.name:
            if await self._devices.get_by_name(owner_id, changes.name) is not None:
                raise DeviceNameTakenError
            device.name = changes.name
        if "label" in fields:
            device.label = changes.label or None
        if "metadata" in fields and changes.metadata is not None:
            device.extra = changes.metadata
        device.updated_at = self._clock.now()
        try:
            await self._devices.save(device)
        except IntegrityError as exc:
            raise DeviceNameTakenError from exc
        new_platform_label = platform_label(device.name, device.label)
        if new_platform_label != old_platform_label:
            # After the row is flushed, so a refused name never reaches ThingsBoard; if ThingsBoard fails the
            # request fails and the row change is rolled back with it.
            await self._lifecycle.relabel(device, new_platform_label)
        return device_read(device)

    async def delete(
        self, owner_id: uuid.UUID, device_id: uuid.UUID, *, client_ip: str | None = None
    ) -> uuid.UUID:
        """Delete an owned device here and on the platform; returns its platform id."""
        device = await self.get_owned(owner_id, device_id)
        actor = Actor(flow=DEVICE_FLOW, user_id=owner_id, client_ip=client_ip)
        return await self._lifecycle.delete(device, actor=actor)

    async def credentials(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> DeviceCredentialsRead:
        device = await self.get_owned(owner_id, device_id)
        return credentials_read(device, await self._lifecycle.credentials(device))

    async def rotate_credentials(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> DeviceCredentialsRead:
        device = await self.get_owned(owner_id, device_id)
        return credentials_read(device, await self._lifecycle.rekey(device))


__all__ = [
    "PLATFORM_NAME_PREFIX",
    "DeviceLookup",
    "DeviceService",
    "platform_device_name",
    "platform_label",
    "require_access",
    "row_id_from_platform_name",
]
