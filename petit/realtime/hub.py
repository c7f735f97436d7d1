"""The per-process streaming hub: who watches what, one upstream subscription per device, fan-out.

Flow: ThingsBoard pushes an update to this process's stream -> the journal admits it once deployment-wide and
numbers it -> it is published on the device's channel (Redis pub/sub, petit.realtime.channels) -> every petit
process with a local watcher of that device receives it -> each local stream filters and queues it.

The hub reference-counts devices over local streams: the first watcher opens the ThingsBoard subscription and
the channel subscription, the last one to leave closes both. Per-user channels carry revocations (device lost,
session ended) and pairing progress to wherever that user's streams are.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from petit.auth.errors import ExpiredAccessTokenError, NotAuthenticatedError
from petit.realtime.errors import TooManyStreamsError
from petit.realtime.session import DeviceEvent
from petit.thingsboard.keytypes import KeyTypes
from petit.thingsboard.stream import DeviceConnectivity, DeviceReadings, StreamEvent

if TYPE_CHECKING:
    from collections.abc import Iterable

    from petit.lib.security import AccessClaims
    from petit.realtime.channels import Channels
    from petit.realtime.config import StreamLimits
    from petit.realtime.journal import Journal
    from petit.realtime.session import Session
    from petit.thingsboard.models import Reading
    from petit.thingsboard.port import TelemetryStreamPort, ThingsBoardPort

log = logging.getLogger(__name__)

Message = dict[str, Any]
#: Token checks in flight at once per process.
_RECHECK_CONCURRENCY = 16
_EXPIRED_WARNING = "Token expired; send authenticate with a new token."
Authenticator = Callable[[str], Awaitable["AccessClaims"]]


class DeviceDirectory(Protocol):
    async def owned_devices(self, user_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
        """The devices ``user_id`` may stream: platform id -> the id the app knows it by."""


def device_data_message(event: DeviceReadings) -> Message:
    readings = {k: {"ts": r.ts_ms, "value": r.value} for k, r in sorted(event.readings.items())}
    return {"type": "deviceData", "data": {"deviceId": str(event.device_id), "readings": readings}}


def device_status_message(event: DeviceConnectivity) -> Message:
    return {
        "type": "deviceStatus",
        "data": {"deviceId": str(event.device_id), "online": event.online, "ts": event.ts_ms},
    }


def _fingerprint(message: Message) -> str:
    # Identical updates seen by several processes hash alike; the journal admits the first.
    body = json.dumps(message, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()[:32]


class Hub:
    def __init__(
        self,
        *,
        thingsboard: ThingsBoardPort | None,
        channels: Channels,
        journal: Journal,
        directory: DeviceDirectory,
        authenticate: Authenticator,
        limits: StreamLimits,
        prefix: str,
        journal_publishes: bool = False,
    ) -> None:
        self._channels = channels
        self._journal = journal
        #: The channels are Redis pub/sub channels under their plain names on the journal's Redis, so the
        #: journal may publish to them itself (one round trip per update instead of two).
        self._journal_publishes = journal_publishes and journal.publishes
        self.directory = directory
        self._authenticate = authenticate
        self.limits = limits
        self._prefix = prefix
        # A partial port (test stubs, older adapters) without push still serves revocations and resume.
        open_stream = getattr(thingsboard, "open_stream", None)
        self._stream: TelemetryStreamPort | None = (
            open_stream(self._on_stream_event) if open_stream is not None else None
        )
        strict_latest = getattr(thingsboard, "latest_readings", None)
        #: Types the WebSocket's string values as ThingsBoard stored them (see petit.thingsboard.keytypes).
        self.key_types: KeyTypes | None = KeyTypes(strict_latest) if strict_latest is not None else None
        #: Per watched device: the newest typed reading per key the subscription delivered.
        self._latest: dict[uuid.UUID, dict[str, Reading]] = {}
        #: Per device: the last of its upstream events still being typed or published (they leave in order).
        self._tails: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._sessions: set[Session] = set()
        self._per_user: dict[uuid.UUID, set[Session]] = defaultdict(set)
        self._watchers: dict[uuid.UUID, set[Session]] = defaultdict(set)
        self._user_subs: set[uuid.UUID] = set()
        #: Per watched device (its channel is subscribed exactly while it is here): the newest sequence its
        #: channel delivered, or (until one arrives) the journal's head when the watch began. A lost channel
        #: connection is caught up from there.
        self._seen_seq: dict[uuid.UUID, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recheck: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.published = 0
        #: Updates delivered from the journal after the channel connection came back (tests read it).
        self.caught_up = 0

    # What the bench and tests read

    @property
    def upstream_subscriptions(self) -> int:
        return self._stream.watched if self._stream is not None else 0

    @property
    def upstream_live(self) -> int:
        """Watched devices whose upstream subscription is answered on the connection that is up."""
        stream = self._stream
        return sum(1 for d in self._watchers if stream.is_live(d)) if stream is not None else 0

    @property
    def channel_connects(self) -> int:
        """Times the channel connection was made: 1 on a healthy process, more after Redis dropped it."""
        return self._channels.connects

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    # Lifecycle

    async def start(self) -> None:
        self._recheck = asyncio.get_running_loop().create_task(self._recheck_loop(), name="realtime-recheck")

    async def aclose(self) -> None:
        for session in list(self._sessions):
            session.close(1001, "Server shutting down.")
        tasks = [t for t in (self._recheck, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._stream is not None:
            await self._stream.aclose()

    # Channels

    def device_channel(self, device_id: uuid.UUID) -> str:
        return f"{self._prefix}rt:device:{device_id}"

    def user_channel(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}rt:user:{user_id}"

    async def _open_sub(self, channel: str, on_message: Callable[[Message], None]) -> None:
        def handle(raw: bytes) -> None:
            try:
                message = json.loads(raw)
            except ValueError:
                return
            if isinstance(message, dict):
                on_message(message)

        await self._channels.subscribe(channel, handle)

    async def _close_sub(self, channel: str) -> None:
        with contextlib.suppress(Exception):
            await self._channels.unsubscribe(channel)

    async def catch_up(self) -> None:
        """After the channel connection was lost and made again: deliver, from the journal, what the watched
        devices published meanwhile (sessions drop what they already have, by sequence), and re-read who may
        stream what, since access changes sent meanwhile are gone."""
        self._spawn(self._resync_access())
        thresholds = dict(self._seen_seq)
        if not thresholds:
            return
        try:
            missed = await self._journal.since(thresholds, min(thresholds.values()))
        except Exception:
            log.warning("realtime.catch_up_failed", exc_info=True)
            return
        delivered = 0
        for message in missed:
            try:
                device_id = uuid.UUID(str(message["data"]["deviceId"]))
            except (KeyError, TypeError, ValueError):
                continue
            if int(message.get("seq", 0)) > thresholds.get(device_id, 0):
                self._on_device_message(message)
                delivered += 1
        self.caught_up += delivered
        log.info("realtime.caught_up", extra={"devices": len(thresholds), "messages": delivered})

    # Sessions

    async def attach(self, session: Session) -> None:
        """Register a newly authenticated stream; ``TooManyStreamsError`` past the per-user limit."""
        async with self._lock:
            mine = self._per_user[session.user_id]
            if len(mine) >= self.limits.max_streams_per_user:
                raise TooManyStreamsError
            mine.add(session)
            self._sessions.add(session)
            if session.user_id not in self._user_subs:
                self._user_subs.add(session.user_id)
                await self._open_sub(
                    self.user_channel(session.user_id),
                    functools.partial(self._on_user_message, session.user_id),
                )
            await self._watch_locked(session, set(), session.watching)

    async def detach(self, session: Session) -> None:
        async with self._lock:
            if session not in self._sessions:
                return
            self._sessions.discard(session)
            await self._watch_locked(session, session.watching, set())
            mine = self._per_user.get(session.user_id)
            if mine is not None:
                mine.discard(session)
                if not mine:
                    del self._per_user[session.user_id]
                    if session.user_id in self._user_subs:
                        self._user_subs.discard(session.user_id)
                        await self._close_sub(self.user_channel(session.user_id))

    async def reselect(
        self, session: Session, devices: frozenset[uuid.UUID] | None, keys: frozenset[str] | None
    ) -> None:
        async with self._lock:
            before = session.watching
            session.selected = devices
            session.keys = keys
            await self._watch_locked(session, before, session.watching)

    async def _watch_locked(self, session: Session, before: set[uuid.UUID], after: set[uuid.UUID]) -> None:
        for device_id in after - before:
            watchers = self._watchers[device_id]
            watchers.add(session)
            if len(watchers) == 1:
                self._seen_seq[device_id] = await self._journal_head()
                await self._open_sub(self.device_channel(device_id), self._on_device_message)
                if self._stream is not None:
                    self._stream.watch(device_id)
        for device_id in before - after:
            watchers = self._watchers.get(device_id, set())
            watchers.discard(session)
            if not watchers:
                self._watchers.pop(device_id, None)
                if self._stream is not None:
                    self._stream.unwatch(device_id)
                self._latest.pop(device_id, None)
                if self.key_types is not None:
                    self.key_types.forget(device_id)
                if self._seen_seq.pop(device_id, None) is not None:
                    await self._close_sub(self.device_channel(device_id))

    async def _journal_head(self) -> int:
        try:
            return await self._journal.head()
        except Exception:
            # Without it a catch-up may repeat a few older updates of this device; sessions cope.
            log.warning("realtime.journal_head_failed", exc_info=True)
            return 0

    async def replay(self, session: Session, last_seq: int) -> list[Message]:
        """What ``session`` missed after ``last_seq`` within the resume window (already filtered)."""
        return await self._journal.since(session.watching, last_seq)

    # Upstream events -> journal -> channels

    def _on_stream_event(self, event: StreamEvent) -> None:
        # Typing may wait on a strict read; events of one device still go out in the order they came.
        device_id = event.device_id
        task = asyncio.ensure_future(self._deliver(event, self._tails.get(device_id)))
        self._tails[device_id] = task
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if self._tails.get(device_id) is finished:
                del self._tails[device_id]

        task.add_done_callback(done)

    async def _deliver(self, event: StreamEvent, previous: asyncio.Task[None] | None) -> None:
        if isinstance(event, DeviceReadings) and self.key_types is not None:
            event = DeviceReadings(
                device_id=event.device_id,
                readings=await self.key_types.typed(event.device_id, event.readings),
            )
        if previous is not None:
            await asyncio.wait([previous])
        if isinstance(event, DeviceReadings):
            if event.device_id in self._watchers:
                known = self._latest.setdefault(event.device_id, {})
                for key, reading in event.readings.items():
                    current = known.get(key)
                    if current is None or reading.ts_ms >= current.ts_ms:
                        known[key] = reading
            message = device_data_message(event)
        else:
            message = device_status_message(event)
        await self.publish_device_event(event.device_id, message)

    def latest_known(self, device_id: uuid.UUID, keys: Iterable[str]) -> dict[str, Reading] | None:
        """The newest value of each of ``keys`` this process's live subscription delivered, or None when it
        cannot vouch for them: the device is not streamed here, the subscription is not answered on the
        current socket, an event of the device is still being typed, or a key has not been delivered.

        Freshness: every update ThingsBoard pushed for the device before this call is reflected (an update
        being typed makes this return None, so the caller reads ThingsBoard). A sample ThingsBoard has stored
        but not yet pushed may be missing: that is the push latency, a few milliseconds on one site."""
        if device_id in self._tails or self._stream is None:
            return None
        if not self._stream.is_live(device_id):
            return None
        known = self._latest.get(device_id)
        if known is None:
            return None
        result: dict[str, Reading] = {}
        for key in keys:
            reading = known.get(key)
            if reading is None:
                return None
            result[key] = reading
        return result

    async def publish_device_event(self, device_id: uuid.UUID, message: Message) -> None:
        channel = self.device_channel(device_id)
        # A Redis journal numbers and publishes in one round trip; otherwise publish through the channels.
        publishes = self._journal_publishes
        try:
            numbered = await self._journal.append(
                device_id, _fingerprint(message), message, channel=channel if publishes else None
            )
        except Exception:
            log.warning("realtime.journal_failed", exc_info=True)
            return
        if numbered is None:
            return
        self.published += 1
        if not publishes:
            await self._channels.publish(channel, json.dumps(numbered).encode())

    async def publish_user_event(self, user_id: uuid.UUID, message: Message) -> None:
        await self._channels.publish(self.user_channel(user_id), json.dumps(message).encode())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Channels -> local sessions

    def _on_device_message(self, message: Message) -> None:
        # Parsed once here and encoded once per form the streams see it in, not once per stream.
        event = DeviceEvent.parse(message)
        if event is None:
            return
        if event.seq > self._seen_seq.get(event.device_id, event.seq):
            self._seen_seq[event.device_id] = event.seq
        for session in tuple(self._watchers.get(event.device_id, ())):
            session.offer(event)

    def _on_user_message(self, user_id: uuid.UUID, message: Message) -> None:
        kind = message.get("type")
        sessions = list(self._per_user.get(user_id, ()))
        if kind in {"deviceRevoked", "deviceAdded", "shareGranted", "shareRevoked"}:
            try:
                device_id = uuid.UUID(str((message.get("data") or {}).get("deviceId")))
            except ValueError:
                return
            for session in sessions:
                self._on_access_message(session, str(kind), device_id, message)
        elif kind == "sessionRevoked":
            for session in sessions:
                session.control({"type": "error", "message": "Session revoked."})
                session.close(4001, "Session revoked.")
        elif kind == "pairingProgress":
            for session in sessions:
                session.control(message)

    def _on_access_message(self, session: Session, kind: str, device_id: uuid.UUID, message: Message) -> None:
        if kind == "deviceAdded":
            self._spawn(self._add_device(session, device_id))
        elif kind == "shareGranted":
            # Shared with this user (or handed to them): the stream carries it from now on, no reconnect.
            self._spawn(self._grant_device(session, device_id, message))
        elif device_id in session.owned:
            if kind == "shareRevoked":
                # Why, before the usual deviceRevoked that every client already understands.
                session.control(message)
            self._spawn(self._revoke_device(session, device_id))

    async def _revoke_device(self, session: Session, device_id: uuid.UUID) -> None:
        async with self._lock:
            before = session.watching
            session.drop_device(device_id)
            await self._watch_locked(session, before, session.watching)
        session.control({"type": "deviceRevoked", "data": {"deviceId": str(device_id)}})

    async def _add_device(self, session: Session, device_id: uuid.UUID) -> None:
        # Re-read the directory rather than trusting the id alone: a device that was already visible under its
        # platform id (a reserved pairing device) now has a petit id, and clients must see that one.
        devices = await self.directory.owned_devices(session.user_id)
        devices.setdefault(device_id, device_id)
        async with self._lock:
            before = session.watching
            session.own(devices)
            await self._watch_locked(session, before, session.watching)

    async def _grant_device(self, session: Session, device_id: uuid.UUID, message: Message) -> None:
        await self._add_device(session, device_id)
        session.control(message)

    async def _resync_access(self) -> None:
        gate = asyncio.Semaphore(_RECHECK_CONCURRENCY)

        async def resync(user_id: uuid.UUID) -> None:
            async with gate:
                try:
                    devices = await self.directory.owned_devices(user_id)
                except Exception:
                    log.warning("realtime.resync_failed", exc_info=True)
                    return
            for session in list(self._per_user.get(user_id, ())):
                for device_id in session.owned - devices.keys():
                    await self._revoke_device(session, device_id)
                if devices.keys() - session.owned:
                    async with self._lock:
                        before = session.watching
                        session.own(devices)
                        await self._watch_locked(session, before, session.watching)

        await asyncio.gather(*(resync(user_id) for user_id in list(self._per_user)))

    # Token re-checks: logout, password change and expiry reach open streams within one interval

    async def _recheck_loop(self) -> None:
        while True:
            await asyncio.sleep(self.limits.recheck_interval_s)
            sessions = [s for s in self._sessions if s.closing is None]
            if not sessions:
                continue
            # Phones of one account share a token: check each token once per pass, a few at a time, so a
            # thousand sockets cost a handful of cache round trips in flight rather than exhausting the pool.
            by_token: dict[str, list[Session]] = defaultdict(list)
            for session in sessions:
                by_token[session.token].append(session)
            gate = asyncio.Semaphore(_RECHECK_CONCURRENCY)

            async def check(token: str, group: list[Session], gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    verdict = await self._verdict(token)
                for session in group:
                    self._apply(session, token, verdict)

            await asyncio.gather(*(check(t, g) for t, g in by_token.items()))

    async def authenticate(self, token: str) -> AccessClaims:
        """Check a token a stream presents (bounded concurrency, shared with the periodic re-checks)."""
        return await self._authenticate(token)

    async def _verdict(self, token: str) -> str:
        try:
            await self._authenticate(token)
        except ExpiredAccessTokenError:
            return "expired"
        except NotAuthenticatedError:
            return "revoked"
        except Exception:
            # The cache is unreachable: keep streaming rather than cut every client; the next pass retries.
            log.warning("realtime.recheck_failed", exc_info=True)
            return "unknown"
        return "ok"

    def _apply(self, session: Session, token: str, verdict: str) -> None:
        if session.token != token or verdict in {"ok", "unknown"}:
            return
        if verdict == "expired":
            if session.expired:
                return
            session.expired = True
            session.control(
                {"type": "warning", "message": "Token expired; send authenticate with a new token."}
            )
            self._spawn(self._expire_later(session, token))
            return
        session.control({"type": "error", "message": "Session revoked."})
        session.close(4001, "Session revoked.")

    async def _expire_later(self, session: Session, token: str) -> None:
        await asyncio.sleep(self.limits.reauth_grace_s)
        if session.token == token and session.expired:
            session.control({"type": "error", "message": "Invalid or expired token."})
            session.close(4001, "Token expired.")

    def sessions_of(self, user_id: uuid.UUID) -> Iterable[Session]:
        return tuple(self._per_user.get(user_id, ()))
