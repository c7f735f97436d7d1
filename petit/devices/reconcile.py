"""``petit reconcile``: find and repair drift between petit's rows and ThingsBoard.

Drift comes from crashes between the two writes of a create or delete, from compensations that could not
reach ThingsBoard, and from operators editing ThingsBoard by hand. Repairs, in order:

* users still pending a link get their customer (same idempotent path as signup);
* petit-named ThingsBoard devices without a row are deleted (only past a grace period: a create in flight
  has its device before its row);
* rows whose ThingsBoard device is gone are deleted (the device's identity and credentials are gone with it);
* devices assigned to the wrong customer are given back to their owner's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from petit.db.models import PlatformLinkState
from petit.devices.idempotency import IdempotencyStore
from petit.devices.repositories import DeviceRepository
from petit.devices.services import row_id_from_platform_name
from petit.thingsboard.errors import ThingsBoardError
from petit.users.linking import PlatformLinker, pending_users
from petit.users.repositories import UserRepository

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.db.models import Device
    from petit.lib.clock import Clock
    from petit.settings import Settings
    from petit.thingsboard.models import DeviceRecord
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 600.0
_PAGE_SIZE = 100


@dataclass
class ReconcileReport:
    dry_run: bool
    users_linked: list[uuid.UUID] = field(default_factory=list)
    users_pending: list[uuid.UUID] = field(default_factory=list)
    orphan_platform_devices: list[uuid.UUID] = field(default_factory=list)
    rows_without_device: list[uuid.UUID] = field(default_factory=list)
    reassigned_devices: list[uuid.UUID] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return (
            len(self.users_linked)
            + len(self.users_pending)
            + len(self.orphan_platform_devices)
            + len(self.rows_without_device)
            + len(self.reassigned_devices)
        )

    def lines(self) -> list[str]:
        verb = "would fix" if self.dry_run else "fixed"
        return [
            f"users linked ({verb}): {len(self.users_linked)}",
            f"users still pending: {len(self.users_pending)}",
            f"orphan platform devices deleted ({verb}): {len(self.orphan_platform_devices)}",
            f"rows without platform device deleted ({verb}): {len(self.rows_without_device)}",
            f"devices given back to their owner ({verb}): {len(self.reassigned_devices)}",
            *(f"error: {e}" for e in self.errors),
        ]


async def _all_platform_devices(thingsboard: ThingsBoardPort) -> list[DeviceRecord]:
    records: list[DeviceRecord] = []
    page = 0
    while True:
        chunk = await thingsboard.list_devices(page=page, page_size=_PAGE_SIZE, owner_id=None)
        records.extend(chunk.items)
        if not chunk.has_next:
            return records
        page += 1


class Reconciler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        thingsboard: ThingsBoardPort,
        clock: Clock,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._tb = thingsboard
        self._clock = clock
        self._grace_s = grace_s
        self._wall_clock = wall_clock

    async def run(self, *, dry_run: bool) -> ReconcileReport:
        report = ReconcileReport(dry_run=dry_run)
        try:
            await self._link_users(report, dry_run=dry_run)
            await self._devices(report, dry_run=dry_run)
        except ThingsBoardError as exc:
            report.errors.append(f"ThingsBoard failed: {type(exc).__name__}: {exc.message}")
        async with self._sessionmaker() as session:
            if not dry_run:
                await IdempotencyStore(session, self._clock).purge_expired()
                await session.commit()
        for line in report.lines():
            if line:
                log.info("reconcile %s", line)
        return report

    async def _link_users(self, report: ReconcileReport, *, dry_run: bool) -> None:
        linker = PlatformLinker(self._tb, self._clock)
        async with self._sessionmaker() as session:
            while users := await pending_users(session, limit=100):
                for user in users:
                    if dry_run:
                        report.users_linked.append(user.id)
                        continue
                    try:
                        await linker.ensure_linked(user)
                    except ThingsBoardError:
                        # Every other user would fail the same way; report them all as still pending.
                        report.users_pending.extend(u.id for u in await pending_users(session, limit=10_000))
                        raise
                    await session.commit()
                    report.users_linked.append(user.id)
                if dry_run:
                    return

    async def _devices(self, report: ReconcileReport, *, dry_run: bool) -> None:
        async with self._sessionmaker() as session:
            devices = DeviceRepository(session)
            # Rows first, ThingsBoard second: a row always has its device before it exists, so any row read
            # here must show up in the listing unless its device really is gone.
            rows = await devices.all_platform_ids()
            platform = await _all_platform_devices(self._tb)
            for record in platform:
                if row_id_from_platform_name(record.name) is None:
                    continue  # not petit's: an operator's own device
                row = rows.get(record.id)
                if row is None:
                    await self._orphan(devices, record, report, dry_run=dry_run)
                else:
                    await self._check_owner(UserRepository(session), row, record, report, dry_run=dry_run)
            listed = {record.id for record in platform}
            for platform_id, row in rows.items():
                if platform_id not in listed:
                    report.rows_without_device.append(row.id)
                    if not dry_run:
                        await devices.delete(row)
            if not dry_run:
                await session.commit()

    async def _orphan(
        self, devices: DeviceRepository, record: DeviceRecord, report: ReconcileReport, *, dry_run: bool
    ) -> None:
        if record.created_at_ms > (self._wall_clock() - self._grace_s) * 1000:
            return  # a create may still be writing its row
        # Re-read: the row may have been committed since the snapshot.
        if await devices.get_by_platform_id(record.id) is not None:
            return
        report.orphan_platform_devices.append(record.id)
        if not dry_run:
            await self._tb.delete_device(record.id)

    async def _check_owner(
        self,
        users: UserRepository,
        row: Device,
        record: DeviceRecord,
        report: ReconcileReport,
        *,
        dry_run: bool,
    ) -> None:
        owner = await users.get(row.owner_id)
        if owner is None or owner.platform_link_state != PlatformLinkState.LINKED:
            return
        want = owner.platform_owner_id
        if want is None or record.owner_id == want:
            return
        report.reassigned_devices.append(row.id)
        if not dry_run:
            await self._tb.assign_device(record.id, want)


async def reconcile_with_settings(settings: Settings, *, dry_run: bool, grace_s: float) -> ReconcileReport:
    """Run one reconciliation with connections of its own (the ``petit reconcile`` command)."""
    from redis.asyncio import Redis  # noqa: PLC0415 - only the command needs these

    from petit.db.engine import create_engine, create_sessionmaker  # noqa: PLC0415
    from petit.lib.clock import SystemClock  # noqa: PLC0415
    from petit.thingsboard.client import ThingsBoardClient  # noqa: PLC0415

    engine = create_engine(settings.db)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
    client = ThingsBoardClient(settings.thingsboard.client_config(settings.redis.key_prefix), redis=redis)
    try:
        reconciler = Reconciler(create_sessionmaker(engine), client, SystemClock(), grace_s=grace_s)
        return await reconciler.run(dry_run=dry_run)
    finally:
        await client.aclose()
        if redis is not None:
            await redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
        await engine.dispose()
