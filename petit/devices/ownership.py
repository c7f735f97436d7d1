"""A per-process memory of which device a user owns and its platform id, for the hot read routes.

Telemetry reads ask "does this user own this device, and which platform device is it" on every request, and
the answer only changes by the row being deleted (delete, release, ``petit reconcile``), its owner changing
(a transfer) or a share changing (revoked, role changed, left); each of those forgets the device first.
Remembering the answer briefly saves the read routes a database round trip (and a transaction) per request.

Staleness bound:

* in this process: none. ``DeviceRepository`` forgets a device before its delete is flushed, and for
  ``TOMBSTONE_S`` afterwards refuses to remember it again, so a read that raced the not-yet-committed delete
  (and still saw the row) cannot put it back;
* in another process (another worker, another host, the reconcile CLI): at most ``OWNERSHIP_TTL_S`` seconds,
  the age after which an entry is looked up again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from petit.devices.roles import Role

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

#: How long another process may keep serving reads of a device deleted elsewhere.
OWNERSHIP_TTL_S = 2.0
#: Longer than any request that deletes a device can take to commit (its ThingsBoard call included).
TOMBSTONE_S = 120.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class OwnedDevice:
    id: uuid.UUID
    platform_device_id: uuid.UUID
    #: The asker's role; a share's revocation or role change forgets the device like a delete does.
    role: Role = Role.OWNER


class OwnershipCache:
    def __init__(
        self,
        *,
        ttl_s: float = OWNERSHIP_TTL_S,
        tombstone_s: float = TOMBSTONE_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._tombstone_s = tombstone_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[uuid.UUID, uuid.UUID], tuple[OwnedDevice, float]] = OrderedDict()
        self._forgotten: OrderedDict[uuid.UUID, float] = OrderedDict()

    def get(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> OwnedDevice | None:
        key = (owner_id, device_id)
        item = self._entries.get(key)
        if item is None:
            return None
        device, expires = item
        if expires <= self._clock():
            del self._entries[key]
            return None
        return device

    def remember(self, owner_id: uuid.UUID, device: OwnedDevice) -> None:
        now = self._clock()
        self._expire_tombstones(now)
        if device.id in self._forgotten:
            return
        key = (owner_id, device.id)
        self._entries[key] = (device, now + self._ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget(self, device_id: uuid.UUID) -> None:
        """The device's row is going away (or changing): stop answering for it, whoever asks."""
        now = self._clock()
        self._expire_tombstones(now)
        self._forgotten[device_id] = now + self._tombstone_s
        self._forgotten.move_to_end(device_id)
        # Owners are few per device; scanning keeps the common path (get) a single dict lookup.
        for key in [k for k in self._entries if k[1] == device_id]:
            del self._entries[key]

    def _expire_tombstones(self, now: float) -> None:
        # Insertion order is expiry order (one constant TOMBSTONE_S), so only the front can have expired.
        while self._forgotten:
            device_id, until = next(iter(self._forgotten.items()))
            if until > now:
                break
            del self._forgotten[device_id]


#: The process's cache: every request and every repository in this process share it.
PROCESS_OWNERSHIP = OwnershipCache()
