"""Device ownership: the rules every device route (and the telemetry/command features) go through.

A device is two records: ThingsBoard's (identity, credentials, telemetry) and petit's row (owner, name,
metadata). Every write keeps them paired: ThingsBoard first, then the row, undoing the ThingsBoard side when
the row cannot be written; ``petit reconcile`` repairs what a crash in between leaves behind.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import IntegrityError

from petit.db.models import Device
from petit.devices.errors import DeviceNameTakenError, DeviceNotFoundError
from petit.devices.idempotency import request_hash
from petit.devices.ownership import OwnedDevice
from petit.devices.schemas import DeviceCreate, DeviceCredentialsRead, DevicePage, DeviceRead, DeviceUpdate
from petit.thingsboard.errors import ThingsBoardError, ThingsBoardNotFoundError, ThingsBoardUnavailableError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Coroutine
    from datetime import datetime

    from petit.db.models import User
    from petit.devices.idempotency import IdempotencyStore
    from petit.devices.ownership import OwnershipCache
    from petit.devices.repositories import DeviceRepository
    from petit.lib.clock import Clock
    from petit.thingsboard.models import DeviceCredentials
    from petit.thingsboard.port import ThingsBoardPort
    from petit.users.linking import PlatformLinker

log = logging.getLogger(__name__)
T = TypeVar("T")

#: ThingsBoard device names are ``petit-<row id>``: unique tenant-wide (TB requires it, user names are only
#: unique per owner), and they mark a platform device as petit's and lead reconcile back to its row.
PLATFORM_NAME_PREFIX = "petit-"
CREATE_OPERATION = "CreateDevice"


def platform_device_name(device_id: uuid.UUID) -> str:
    return f"{PLATFORM_NAME_PREFIX}{device_id}"


def row_id_from_platform_name(name: str) -> uuid.UUID | None:
    """The petit row id a platform device name points to; None when the device is not petit's."""
    if not name.startswith(PLATFORM_NAME_PREFIX):
        return None
    try:
        return uuid.UUID(name.removeprefix(PLATFORM_NAME_PREFIX))
    except ValueError:
        return None


def platform_label(name: str, label: str | None) -> str:
    """What operators read in ThingsBoard's device list."""
    return name if not label else f"{name} ({label})"


def device_read(device: Device) -> DeviceRead:
    return DeviceRead(
        id=device.id,
        name=device.name,
        label=device.label,
        metadata=device.extra,
        created_at=device.created_at,
        updated_at=device.updated_at,
    )


def credentials_read(device: Device, credentials: DeviceCredentials) -> DeviceCredentialsRead:
    return DeviceCredentialsRead(
        device_id=device.id,
        access_token=credentials.access_token,
        mqtt_host=credentials.mqtt_host,
        mqtt_port=credentials.mqtt_port,
    )


#: Compensations running after their request answered; referenced so they are not garbage-collected mid-way.
_BACKGROUND: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


class DeviceService:
    def __init__(
        self,
        *,
        devices: DeviceRepository,
        thingsboard: ThingsBoardPort | None = None,
        linker: PlatformLinker | None = None,
        idempotency: IdempotencyStore | None = None,
        clock: Clock | None = None,
        ownership: OwnershipCache | None = None,
    ) -> None:
        self._devices = devices
        self._ownership = ownership
        self._thingsboard = thingsboard
        self._linker = linker
        self._idempotency = idempotency
        self._clock = clock

    @property
    def _tb(self) -> ThingsBoardPort:
        if self._thingsboard is None:
            raise RuntimeError("DeviceService was built without a ThingsBoard port")
        return self._thingsboard

    async def get_owned(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> Device:
        """The device if ``owner_id`` owns it; ``DeviceNotFoundError`` when missing or someone else's."""
        device = await self._devices.get_owned(owner_id, device_id)
        if device is None:
            raise DeviceNotFoundError
        return device

    async def get_owned_ref(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> OwnedDevice:
        """Like :meth:`get_owned` for routes that need only the ids, answered from the process's ownership
        cache when it can (staleness bound in petit.devices.ownership)."""
        cached = self._ownership.get(owner_id, device_id) if self._ownership is not None else None
        if cached is not None:
            return cached
        device = await self.get_owned(owner_id, device_id)
        owned = OwnedDevice(id=device.id, platform_device_id=device.platform_device_id)
        if self._ownership is not None:
            self._ownership.remember(owner_id, owned)
        return owned

    async def create(
        self, user: User, data: DeviceCreate, *, idempotency_key: str | None = None
    ) -> DeviceRead:
        reservation = None
        if idempotency_key is not None and self._idempotency is not None:
            body_hash = request_hash(data.model_dump(mode="json"))
            reservation, stored = await self._idempotency.begin(
                user.id, CREATE_OPERATION, idempotency_key, body_hash
            )
            if stored is not None:
                return DeviceRead.model_validate(stored)
        created = await self._create(user, data)
        if reservation is not None and self._idempotency is not None:
            await self._idempotency.complete(reservation, 201, created.model_dump(mode="json", by_alias=True))
        return created

    async def _create(self, user: User, data: DeviceCreate) -> DeviceRead:
        if await self._devices.get_by_name(user.id, data.name) is not None:
            raise DeviceNameTakenError
        if self._linker is not None:
            await self._linker.ensure_linked(user)
        device_id = uuid.uuid4()
        platform_name = platform_device_name(device_id)
        try:
            record = await self._tb.create_device(
                platform_name, owner_id=user.platform_owner_id, label=platform_label(data.name, data.label)
            )
        except ThingsBoardUnavailableError as exc:
            if exc.request_sent:
                # ThingsBoard may have created it before the answer was lost. Cleaning up in the background
                # keeps the client's 503 within one request timeout; reconcile catches what this misses.
                _in_background(self._forget_platform_device(platform_name))
            raise
        now = self._now()
        device = Device(
            id=device_id,
            owner_id=user.id,
            platform_device_id=record.id,
            name=data.name,
            label=data.label,
            extra=data.metadata,
            created_at=now,
            updated_at=now,
        )
        try:
            await self._devices.add(device)
        except IntegrityError as exc:
            await self._undo_platform_create(record.id)
            # Lost a race with a concurrent create of the same name.
            raise DeviceNameTakenError from exc
        except BaseException:
            await self._undo_platform_create(record.id)
            raise
        log.info("device.created device_id=%s owner_id=%s", device.id, user.id)
        return device_read(device)

    async def _undo_platform_create(self, platform_id: uuid.UUID) -> None:
        try:
            await self._tb.delete_device(platform_id)
        except ThingsBoardError:
            # Left for `petit reconcile`, which finds petit-named devices without a row.
            log.exception("device.compensation_failed platform_id=%s", platform_id)

    async def _forget_platform_device(self, platform_name: str) -> None:
        try:
            record = await self._tb.find_device(platform_name)
            if record is not None:
                await self._tb.delete_device(record.id)
        except ThingsBoardError as exc:
            log.warning("device.compensation_deferred name=%s reason=%s", platform_name, type(exc).__name__)

    async def list_owned(self, owner_id: uuid.UUID, *, limit: int, offset: int) -> DevicePage:
        devices, total = await self._devices.list_owned(owner_id, limit=limit, offset=offset)
        return DevicePage(items=[device_read(d) for d in devices], total=total, limit=limit, offset=offset)

    async def get(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> DeviceRead:
        return device_read(await self.get_owned(owner_id, device_id))

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
        device.updated_at = self._now()
        try:
            await self._devices.save(device)
        except IntegrityError as exc:
            raise DeviceNameTakenError from exc
        new_platform_label = platform_label(device.name, device.label)
        if new_platform_label != old_platform_label:
            # After the row is flushed, so a refused name never reaches ThingsBoard; if ThingsBoard fails the
            # request fails and the row change is rolled back with it.
            await self._platform_call(
                device, self._tb.update_device(device.platform_device_id, label=new_platform_label)
            )
        return device_read(device)

    async def delete(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> uuid.UUID:
        """Delete an owned device here and on the platform; returns its platform id."""
        device = await self.get_owned(owner_id, device_id)
        # Row first (flushed, not committed): if ThingsBoard then fails, the request fails and the row stays.
        await self._devices.delete(device)
        await self._tb.delete_device(device.platform_device_id)
        log.info("device.deleted device_id=%s owner_id=%s", device.id, owner_id)
        return device.platform_device_id

    async def credentials(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> DeviceCredentialsRead:
        device = await self.get_owned(owner_id, device_id)
        credentials = await self._platform_call(device, self._tb.get_credentials(device.platform_device_id))
        return credentials_read(device, credentials)

    async def rotate_credentials(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> DeviceCredentialsRead:
        device = await self.get_owned(owner_id, device_id)
        credentials = await self._platform_call(
            device, self._tb.rotate_credentials(device.platform_device_id)
        )
        log.info("device.credentials_rotated device_id=%s", device.id)
        return credentials_read(device, credentials)

    async def _platform_call(self, device: Device, call: Awaitable[T]) -> T:
        try:
            return await call
        except ThingsBoardNotFoundError as exc:
            # The row outlived its platform device (deleted in ThingsBoard's UI, or a crash mid-delete):
            # for the user it is gone; `petit reconcile` removes the row.
            log.warning("device.platform_device_missing device_id=%s", device.id)
            raise DeviceNotFoundError("The device no longer exists on the device platform") from exc

    def _now(self) -> datetime:
        if self._clock is None:
            raise RuntimeError("DeviceService was built without a clock")
        return self._clock.now()
