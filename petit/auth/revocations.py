"""This process's copy of the revocation markers, so an access-token check costs no Redis round trip.

The markers themselves stay in Redis (``auth:revoked:jti:<jti>``, ``auth:revoked:family:<id>``, with the TTL
of the longest token they cut). Whoever sets one also publishes it on ``auth:revocations``; every process
holds a subscription to that channel and a copy of the markers:

* on (re)connect it subscribes first, then loads every marker with SCAN, then declares itself current: a
  marker set before the load is in the load, one set after the subscription arrives as a message;
* it pings over the subscription every ``ping_interval_s``; the copy is *current* only while something came
  back within ``stale_after_s``. A silent or broken connection therefore stops vouching within that bound;
* while the copy is not current, :class:`petit.auth.services.AccessTokenVerifier` asks Redis as before (and
  answers 503 when Redis cannot answer): fail closed, never open.

So a logout reaches every process as fast as Redis pub/sub delivers (milliseconds), and never later than
``stale_after_s`` plus a Redis round trip.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from petit.lib.reconnect import Backoff, close_pubsub, stop_task

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

JTI = "jti"
FAMILY = "family"
CHANNEL = "auth:revocations"
MARKER_PREFIX = "auth:revoked:"
_SCAN_BATCH = 1000
_SWEEP_EVERY = 1024


def marker_key(kind: str, ident: str) -> str:
    return f"{MARKER_PREFIX}{kind}:{ident}"


def revocation_message(kind: str, ident: str, ttl_s: float) -> str:
    return json.dumps({"kind": kind, "id": ident, "ttl": ttl_s}, separators=(",", ":"))


class RevocationView:
    def __init__(
        self,
        redis: Redis[Any],
        *,
        prefix: str,
        ping_interval_s: float = 0.25,
        stale_after_s: float = 0.75,
        backoff_max_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ping_interval_s = ping_interval_s
        self._stale_after_s = stale_after_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self._revoked: dict[tuple[str, str], float] = {}
        self._loaded = False
        self._last_seen = -1e18
        self._adds = 0
        self._task: asyncio.Task[None] | None = None
        #: Times the copy was (re)loaded from Redis (tests and the bench read it).
        self.loads = 0

    @property
    def channel(self) -> str:
        return f"{self._prefix}{CHANNEL}"

    def current(self) -> bool:
        """The copy reflects every marker set until ``stale_after_s`` ago, at worst."""
        return self._loaded and self._clock() - self._last_seen <= self._stale_after_s

    def revoked(self, jti: str, family: str) -> bool:
        now = self._clock()
        for entry in ((JTI, jti), (FAMILY, family)):
            deadline = self._revoked.get(entry)
            if deadline is not None:
                if deadline > now:
                    return True
                del self._revoked[entry]
        return False

    def add(self, kind: str, ident: str, ttl_s: float) -> None:
        """Remember a marker (from the channel, the load, or this process's own logout)."""
        now = self._clock()
        self._revoked[(kind, ident)] = now + max(ttl_s, 1.0)
        self._adds += 1
        if self._adds % _SWEEP_EVERY == 0:
            for entry in [e for e, deadline in self._revoked.items() if deadline <= now]:
                del self._revoked[entry]

    def __len__(self) -> int:
        return len(self._revoked)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="auth-revocations")

    async def wait_current(self, timeout_s: float) -> bool:
        deadline = self._clock() + timeout_s
        while not self.current():
            if self._clock() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            await stop_task(self._task, nudge_every_s=0.1)
            self._task = None

    async def _run(self) -> None:
        backoff = Backoff(0.05, self._backoff_max_s)
        while True:
            pubsub = self._redis.pubsub()
            try:
                await self._session(pubsub, backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: not current, reconnect
                log.info("auth.revocations.disconnected", extra={"error": type(exc).__name__})
            finally:
                self._loaded = False
                await close_pubsub(pubsub)
            await backoff.wait()

    async def _session(self, pubsub: PubSub, backoff: Backoff) -> None:
        await pubsub.subscribe(self.channel)
        await self._load()
        self._loaded = True
        backoff.reset()
        self._last_seen = self._clock()
        self.loads += 1
        next_ping = self._clock()
        while True:
            now = self._clock()
            if now >= next_ping:
                await pubsub.ping()
                next_ping = now + self._ping_interval_s
            if now - self._last_seen > self._stale_after_s * 2:
                raise TimeoutError("revocation channel silent")
            message = await pubsub.get_message(timeout=self._ping_interval_s)
            if message is None:
                continue
            self._last_seen = self._clock()
            if message.get("type") == "message":
                self._apply(message.get("data"))

    def _apply(self, raw: Any) -> None:
        try:
            data = json.loads(raw)
            self.add(str(data["kind"]), str(data["id"]), float(data["ttl"]))
        except (ValueError, KeyError, TypeError):
            log.warning("auth.revocations.bad_message")

    async def _load(self) -> None:
        pattern = f"{self._prefix}{MARKER_PREFIX}*"
        strip = len(self._prefix) + len(MARKER_PREFIX)
        cursor: int = 0
        while True:
            cursor, keys = await self._redis.scan(cursor=cursor, match=pattern, count=_SCAN_BATCH)
            if keys:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.pttl(key)
                    ttls = await pipe.execute()
                for key, pttl in zip(keys, ttls, strict=True):
                    name = key.decode() if isinstance(key, bytes) else str(key)
                    kind, _, ident = name[strip:].partition(":")
                    if pttl is not None and int(pttl) > 0 and ident:
                        self.add(kind, ident, int(pttl) / 1000)
            if not cursor:
                return


__all__ = ["CHANNEL", "FAMILY", "JTI", "RevocationView", "marker_key", "revocation_message"]
