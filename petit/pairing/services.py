"""App-assisted pairing (seed 001 v2): reserve a device, hand the app its secrets, complete when the device
proves it received them (porto_contract/device/pairing.md)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from petit.audit.services import DeviceEventService, Outcome
from petit.db.models import OPEN_PAIRING_STATES, Pairing, PairingState, User
from petit.devices.errors import DeviceNameTakenError
from petit.devices.lifecycle import Actor, DeviceLifecycle
from petit.devices.naming import platform_label, reserved_device_name
from petit.devices.repositories import DeviceRepository
from petit.lib.clock import as_utc
from petit.lib.secrets import new_secret
from petit.lib.throttle import Subjects, TooManyAttemptsError
from petit.pairing.common import ownership_attributes, show_ownership
from petit.pairing.errors import PairingClosedError, PairingNotFoundError
from petit.pairing.schemas import PairingCreate, PairingRead, PairingStarted
from petit.thingsboard.errors import ThingsBoardError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from petit.lib.cache import Cache
    from petit.lib.clock import Clock
    from petit.lib.secrets import SecretHasher
    from petit.lib.throttle import AttemptThrottle
    from petit.thingsboard.models import DeviceRecord
    from petit.thingsboard.port import ThingsBoardPort

    #: Told of every committed stage change of a pairing (the realtime stream forwards it to the app).
    ProgressListener = Callable[[Pairing], Awaitable[None]]

log = logging.getLogger(__name__)

FLOW = "pairing"


def pairing_read(pairing: Pairing) -> PairingRead:
    return PairingRead(
        id=pairing.id,
        name=pairing.name,
        state=pairing.state,
        failure_reason=pairing.failure_reason,
        device_id=pairing.device_id if pairing.state == PairingState.COMPLETED else None,
        created_at=pairing.created_at,
        expires_at=pairing.expires_at,
        connected_at=pairing.connected_at,
        finished_at=pairing.finished_at,
    )


class PairingAdvancer:
    """Moves one open pairing forward from what ThingsBoard shows: connected, completed, expired, failed.

    Safe to run from every petit process at once: each pairing row is locked while it is advanced (others
    skip it), every step is repeatable, and the database changes commit together only after ThingsBoard
    agreed, so a failure half-way leaves the pairing open for the next attempt, never half-completed.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        thingsboard: ThingsBoardPort,
        hasher: SecretHasher,
        throttle: AttemptThrottle,
        clock: Clock,
        on_progress: ProgressListener | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._tb = thingsboard
        self._hasher = hasher
        self._throttle = throttle
        self._clock = clock
        self._on_progress = on_progress

    def _lifecycle(self, session: AsyncSession) -> DeviceLifecycle:
        return DeviceLifecycle(session=session, thingsboard=self._tb, clock=self._clock)

    def _events(self, session: AsyncSession) -> DeviceEventService:
        return DeviceEventService(session=session, clock=self._clock)

    async def _progressed(self, pairing: Pairing) -> None:
        # Only after the commit: an app must never see a stage that a rollback could take back.
        if self._on_progress is None:
            return
        try:
            await self._on_progress(pairing)
        except Exception:
            # Live progress is a convenience on top of GetPairing; losing one event must not stall pairing.
            log.warning("pairing.progress_not_published pairing_id=%s", pairing.id, exc_info=True)

    async def open_ids(self, *, limit: int = 1000) -> list[uuid.UUID]:
        async with self._sessionmaker() as session:
            result = await session.execute(
                select(Pairing.id)
                .where(col(Pairing.state).in_(OPEN_PAIRING_STATES))
                .order_by(col(Pairing.created_at))
                .limit(limit)
            )
            return list(result.scalars().all())

    async def advance(self, pairing_id: uuid.UUID) -> None:
        async with self._sessionmaker() as session:
            result = await session.execute(
                select(Pairing).where(col(Pairing.id) == pairing_id).with_for_update(skip_locked=True)
            )
            pairing = result.scalar_one_or_none()
            if pairing is None or pairing.state not in OPEN_PAIRING_STATES:
                return
            now = self._clock.now()
            if as_utc(pairing.expires_at) <= now:
                await self._close(session, pairing, PairingState.EXPIRED, reason="expired")
                return
            device_id = pairing.platform_device_id
            key = await self._tb.pairing_proof(device_id)
            if key is not None:
                if isinstance(key, str) and self._hasher.matches(key, pairing.pair_key_hash):
                    await self._complete(session, pairing)
                else:
                    await self._wrong_key(session, pairing)
                return
            if (
                pairing.state == PairingState.PENDING
                and await self._tb.connected_since(device_id) is not None
            ):
                pairing.state = PairingState.DEVICE_CONNECTED
                pairing.connected_at = now
                await session.commit()
                await self._progressed(pairing)
                await show_ownership(
                    self._tb, device_id, {"pairingState": PairingState.DEVICE_CONNECTED.value}
                )

    async def _wrong_key(self, session: AsyncSession, pairing: Pairing) -> None:
        device_id = pairing.platform_device_id
        # Removed so one wrong publish counts once; the device may publish again with the right key.
        await self._tb.clear_pairing_proof(device_id)
        locked = await self._throttle.failed(Subjects(device=str(device_id)))
        await self._events(session).record(
            flow=FLOW,
            action="complete",
            outcome=Outcome.FAILED,
            reason="wrong_pair_key",
            platform_device_id=device_id,
            actor_user_id=pairing.user_id,
            details={"pairingId": str(pairing.id)},
            keep=not locked,
        )
        if locked:
            await self._close(session, pairing, PairingState.FAILED, reason="too_many_attempts")

    async def _close(
        self,
        session: AsyncSession,
        pairing: Pairing,
        state: PairingState,
        *,
        reason: str,
        client_ip: str | None = None,
    ) -> None:
        """End an open pairing without a device: the reserved one is deleted, nothing is left behind."""
        await self._lifecycle(session).discard_reserved(pairing.platform_device_id)
        pairing.state = state
        pairing.failure_reason = None if state is PairingState.CANCELLED else reason
        pairing.finished_at = self._clock.now()
        await self._events(session).record(
            flow=FLOW,
            action="cancel" if state is PairingState.CANCELLED else "complete",
            outcome=Outcome.EXPIRED if state is PairingState.EXPIRED else Outcome.REFUSED,
            reason=reason,
            platform_device_id=pairing.platform_device_id,
            actor_user_id=pairing.user_id,
            client_ip=client_ip,
            details={"pairingId": str(pairing.id)},
        )
        await session.commit()
        await self._progressed(pairing)

    async def _complete(self, session: AsyncSession, pairing: Pairing) -> None:
        device_id = pairing.platform_device_id
        user = await session.get(User, pairing.user_id)
        if user is None:  # the account was deleted meanwhile (the pairing row would be gone too)
            return
        now = self._clock.now()
        device = await self._lifecycle(session).adopt_reserved(
            user,
            device_id=pairing.device_id,
            platform_device_id=device_id,
            name=pairing.name,
            label=pairing.label,
            status=ownership_attributes(
                state=PairingState.COMPLETED.value, owner=user.email, flow=FLOW, at=now
            ),
            actor=Actor(flow=FLOW, user_id=user.id),
            details={"pairingId": str(pairing.id), "deviceId": str(pairing.device_id)},
        )
        if device is None:
            await self._close(session, pairing, PairingState.FAILED, reason="device_name_taken")
            return
        pairing.state = PairingState.COMPLETED
        pairing.connected_at = pairing.connected_at or now
        pairing.finished_at = now
        await session.commit()
        await self._progressed(pairing)
        log.info("pairing.completed pairing_id=%s device_id=%s", pairing.id, pairing.device_id)

    async def cancel(self, user_id: uuid.UUID, pairing_id: uuid.UUID, *, client_ip: str | None) -> None:
        async with self._sessionmaker() as session:
            result = await session.execute(
                select(Pairing)
                .where(col(Pairing.id) == pairing_id, col(Pairing.user_id) == user_id)
                .with_for_update()
            )
            pairing = result.scalar_one_or_none()
            if pairing is None:
                raise PairingNotFoundError
            if pairing.state not in OPEN_PAIRING_STATES:
                raise PairingClosedError
            await self._close(
                session, pairing, PairingState.CANCELLED, reason="cancelled", client_ip=client_ip
            )


class PairingWatcher:
    """One per petit process: every ``interval_s`` advances each open pairing (see ``PairingAdvancer``)."""

    def __init__(self, advancer: PairingAdvancer, *, interval_s: float, concurrency: int = 16) -> None:
        self._advancer = advancer
        self._interval_s = interval_s
        self._concurrency = asyncio.Semaphore(concurrency)

    async def _one(self, pairing_id: uuid.UUID) -> None:
        async with self._concurrency:
            try:
                await self._advancer.advance(pairing_id)
            except ThingsBoardError as exc:
                # Left open; the next round tries again.
                log.warning(
                    "pairing.advance_deferred pairing_id=%s reason=%s", pairing_id, type(exc).__name__
                )

    async def tick(self) -> int:
        ids = await self._advancer.open_ids()
        await asyncio.gather(*(self._one(i) for i in ids))
        return len(ids)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("pairing.watch_failed")
            await asyncio.sleep(self._interval_s)


class PairingService:
    def __init__(
        self,
        *,
        session: AsyncSession,
        lifecycle: DeviceLifecycle,
        advancer: PairingAdvancer,
        hasher: SecretHasher,
        throttle: AttemptThrottle,
        cache: Cache,
        clock: Clock,
        ttl_s: int,
    ) -> None:
        self._session = session
        self._cache = cache
        self._lifecycle = lifecycle
        self._advancer = advancer
        self._hasher = hasher
        self._throttle = throttle
        self._events = DeviceEventService(session=session, clock=clock)
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)

    async def start(self, user: User, data: PairingCreate, *, client_ip: str | None) -> PairingStarted:
        try:
            await self._throttle.check(Subjects(user_id=user.id, client_ip=client_ip))
        except TooManyAttemptsError:
            await self._events.record(
                flow=FLOW,
                action="start",
                outcome=Outcome.THROTTLED,
                actor_user_id=user.id,
                client_ip=client_ip,
                keep=True,
            )
            raise
        if await DeviceRepository(self._session).get_by_name(user.id, data.name) is not None:
            raise DeviceNameTakenError
        pairing_id = uuid.uuid4()
        pair_key, owner_key, access_token = new_secret(), new_secret(), new_secret()
        pairing: Pairing | None = None

        async def write(record: DeviceRecord) -> None:
            nonlocal pairing
            now = self._clock.now()
            pairing = Pairing(
                id=pairing_id,
                user_id=user.id,
                platform_device_id=record.id,
                device_id=uuid.uuid4(),
                name=data.name,
                label=data.label,
                pair_key_hash=self._hasher.digest(pair_key),
                owner_key_hash=self._hasher.digest(owner_key),
                client_ip=client_ip,
                created_at=now,
                expires_at=now + self._ttl,
            )
            self._session.add(pairing)
            await self._session.flush()
            await self._events.record(
                flow=FLOW,
                action="start",
                outcome=Outcome.SUCCEEDED,
                platform_device_id=record.id,
                actor_user_id=user.id,
                client_ip=client_ip,
                details={"pairingId": str(pairing_id)},
            )

        created = await self._lifecycle.reserve(
            user,
            platform_name=reserved_device_name(pairing_id),
            row_id=pairing_id,
            label=platform_label(data.name, data.label),
            access_token=access_token,
            status={
                "pairingState": PairingState.PENDING.value,
                "owner": user.email,
                "pairingId": str(pairing_id),
            },
            write=write,
        )
        assert pairing is not None  # written by ``write`` above
        credentials = created.credentials
        return PairingStarted(
            pairing_id=pairing_id,
            pair_key=pair_key,
            owner_key=owner_key,
            access_token=credentials.access_token,
            mqtt_host=credentials.mqtt_host,
            mqtt_port=credentials.mqtt_port,
            expires_at=pairing.expires_at,
            state=pairing.state,
        )

    async def get(self, user_id: uuid.UUID, pairing_id: uuid.UUID) -> PairingRead:
        # Look at ThingsBoard first so the answer is current between watcher rounds, but at most once a second
        # per pairing however eagerly apps poll: reads must not multiply the load on ThingsBoard.
        first, _ = await self._cache.hit(f"pairing:peek:{pairing_id}", window_s=1)
        try:
            if first == 1:
                await self._advancer.advance(pairing_id)
        except ThingsBoardError as exc:
            log.info(
                "pairing.advance_on_read_deferred pairing_id=%s reason=%s", pairing_id, type(exc).__name__
            )
        result = await self._session.execute(
            select(Pairing).where(col(Pairing.id) == pairing_id, col(Pairing.user_id) == user_id)
        )
        pairing = result.scalar_one_or_none()
        if pairing is None:
            raise PairingNotFoundError
        return pairing_read(pairing)

    async def cancel(self, user_id: uuid.UUID, pairing_id: uuid.UUID, *, client_ip: str | None) -> None:
        await self._advancer.cancel(user_id, pairing_id, client_ip=client_ip)
