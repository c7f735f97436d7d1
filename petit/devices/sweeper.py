"""Undoes device steps that never completed (see ``petit.devices.lifecycle``), inside every petit process.

An intent older than the grace period belongs to a request that is no longer running: its transaction would
have deleted the intent with the row it wrote. So the row does not exist, and whatever the step may have done
to ThingsBoard is undone: a created device is deleted, a claimed one unassigned. The intent goes when the undo
succeeded; while ThingsBoard is away it stays, counted, for the next round.

Processes share the work safely: on PostgreSQL each intent is locked while it is handled (others skip it); on
SQLite there is one process. The request that still tries to settle a swept intent finds it gone and fails,
so a row never names an undone device.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from petit.db.models import Device, IntentKind, Pairing, ProvisionedDevice
from petit.devices.lifecycle import align_assignment
from petit.devices.repositories import DeviceIntentRepository
from petit.thingsboard.errors import ThingsBoardError, ThingsBoardNotFoundError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.db.models import DeviceIntent
    from petit.lib.clock import Clock
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

_BATCH = 100


class IntentSweeper:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        thingsboard: ThingsBoardPort,
        clock: Clock,
        *,
        grace_s: float,
        interval_s: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._tb = thingsboard
        self._clock = clock
        self._grace = timedelta(seconds=grace_s)
        self._interval_s = interval_s

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                # The database may be briefly away too; the loop must outlive any one pass.
                log.exception("intent.sweep_failed")
            await asyncio.sleep(self._interval_s)

    async def sweep(self) -> int:
        """One pass; returns how many abandoned steps were undone (or found complete) and forgotten."""
        cutoff = self._clock.now() - self._grace
        done = 0
        async with self._sessionmaker() as session:
            intents = DeviceIntentRepository(session)
            for intent in await intents.stale(cutoff, limit=_BATCH):
                try:
                    if IntentKind(intent.kind) is IntentKind.TRANSFER:
                        await self._align_transfer(session, intent)
                    elif not await self._completed(session, intent):
                        await self._undo(intent)
                except ThingsBoardError as exc:
                    intent.attempts += 1
                    log.warning(
                        "intent.undo_deferred kind=%s name=%s attempts=%d reason=%s",
                        intent.kind,
                        intent.platform_name,
                        intent.attempts,
                        type(exc).__name__,
                    )
                    continue
                await intents.remove(intent.id)
                done += 1
            await session.commit()
        return done

    @staticmethod
    async def _completed(session: AsyncSession, intent: DeviceIntent) -> bool:
        kind = IntentKind(intent.kind)
        if kind is IntentKind.CREATE:
            return intent.row_id is not None and await session.get(Device, intent.row_id) is not None
        if kind is IntentKind.RESERVE:
            return intent.row_id is not None and await session.get(Pairing, intent.row_id) is not None
        if kind is IntentKind.PROVISION:
            found = await session.scalar(
                select(ProvisionedDevice.id).where(col(ProvisionedDevice.mac) == intent.platform_name)
            )
            return found is not None
        found = await session.scalar(
            select(Device.id).where(col(Device.platform_device_id) == intent.platform_device_id)
        )
        return found is not None

    async def _align_transfer(self, session: AsyncSession, intent: DeviceIntent) -> None:
        """A transfer's intent outlives its request only if the row never moved (they commit together), so
        ThingsBoard goes back to whoever petit says owns the device (no one, if it was released)."""
        if intent.platform_device_id is None:
            return
        await align_assignment(session, self._tb, intent.platform_device_id)
        log.info("intent.transfer_undone device_id=%s", intent.row_id)

    async def _undo(self, intent: DeviceIntent) -> None:
        if IntentKind(intent.kind) is IntentKind.CLAIM:
            if intent.platform_device_id is None:
                return
            try:
                record = await self._tb.get_device(intent.platform_device_id)
            except ThingsBoardNotFoundError:
                return
            # Only the claimer's assignment: anyone else's ownership is none of this step's business.
            if record.owner_id is not None and record.owner_id == intent.row_id:
                await self._tb.unassign_device(record.id)
            log.info("intent.claim_undone name=%s", intent.platform_name)
            return
        created = await self._tb.find_device(intent.platform_name)
        if created is not None:
            await self._tb.delete_device(created.id)
            log.info("intent.device_removed kind=%s name=%s", intent.kind, intent.platform_name)
