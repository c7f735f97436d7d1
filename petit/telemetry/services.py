"""Telemetry reads: ownership first (a foreign device looks exactly like a missing one), then the port."""

from __future__ import annotations

import enum
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from petit.devices.errors import DeviceNotFoundError
from petit.telemetry.errors import (
    InvalidAggregationError,
    InvalidTelemetryKeysError,
    InvalidTimeRangeError,
    TimeRangeTooLargeError,
)
from petit.thingsboard.errors import ThingsBoardNotFoundError
from petit.thingsboard.models import Aggregation, HistoryQuery, Reading, SortOrder

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable, Iterable, Iterator

    from petit.devices.ownership import OwnedDevice
    from petit.lib.clock import Clock
    from petit.settings import TelemetrySettings
    from petit.thingsboard.port import ThingsBoardPort

log = logging.getLogger(__name__)

MAX_KEYS = 50
_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_DAY_MS = 24 * 3600 * 1000
#: History without an explicit start covers the last day: enough for a chart, cheap for ThingsBoard.
DEFAULT_HISTORY_SPAN_MS = _DAY_MS


@contextmanager
def platform_device(device_id: uuid.UUID) -> Iterator[None]:
    """A row whose platform device is gone (deleted in ThingsBoard, a crash mid-delete) is gone for its owner:
    404, not an upstream failure; ``petit reconcile`` removes the row."""
    try:
        yield
    except ThingsBoardNotFoundError as exc:
        log.warning("device.platform_device_missing device_id=%s", device_id)
        raise DeviceNotFoundError("The device no longer exists on the device platform") from exc


def parse_keys(raw: str | None, *, required: bool) -> tuple[str, ...] | None:
    """``a,b,c`` into unique keys in request order; None when absent and optional."""
    if raw is None or not raw.strip():
        if required:
            raise InvalidTelemetryKeysError("keys is required")
        return None
    keys = tuple(dict.fromkeys(part.strip() for part in raw.split(",")))
    if len(keys) > MAX_KEYS:
        raise InvalidTelemetryKeysError(f"at most {MAX_KEYS} keys per request")
    bad = [k for k in keys if not _KEY.fullmatch(k)]
    if bad:
        # Echo at most a prefix: the detail must not become a reflection channel for arbitrary input.
        raise InvalidTelemetryKeysError(f"invalid key: {bad[0][:64]!r}")
    return keys


class OwnedDevices(Protocol):
    """The one ownership question telemetry asks (``petit.devices.services.DeviceLookup`` answers it)."""

    async def get_owned_ref(self, owner_id: uuid.UUID, device_id: uuid.UUID) -> OwnedDevice: ...


class Source(enum.Enum):
    """Where a latest read was answered from (the ``X-Petit-Source`` response header)."""

    THINGSBOARD = "thingsboard"
    STREAM = "stream"


@dataclass(frozen=True, slots=True)
class LatestTelemetry:
    device_id: uuid.UUID
    values: dict[str, Reading | None]
    source: Source = Source.THINGSBOARD


@dataclass(frozen=True, slots=True)
class TelemetryHistory:
    device_id: uuid.UUID
    query: HistoryQuery
    series: dict[str, list[Reading]]


class TelemetryService:
    def __init__(
        self,
        *,
        devices: OwnedDevices,
        thingsboard: ThingsBoardPort,
        clock: Clock,
        settings: TelemetrySettings,
        known: Callable[[uuid.UUID, Iterable[str]], dict[str, Reading] | None] | None = None,
    ) -> None:
        self._known = known
        self._devices = devices
        self._thingsboard = thingsboard
        self._clock = clock
        self._settings = settings

    async def latest(
        self, user_id: uuid.UUID, device_id: uuid.UUID, keys: tuple[str, ...] | None
    ) -> LatestTelemetry:
        """Latest value per key; without keys, every key the device ever reported.

        When this process streams the device and its subscription delivered every requested key, the answer
        comes from there (``Source.STREAM``): it reflects every update ThingsBoard pushed before the read
        started; only a sample ThingsBoard stored but has not pushed yet (its push latency) can be missing.
        Otherwise ThingsBoard is read."""
        device = await self._devices.get_owned_ref(user_id, device_id)
        platform_id = device.platform_device_id
        if keys is not None and self._known is not None:
            known = self._known(platform_id, keys)
            if known is not None:
                return LatestTelemetry(
                    device_id=device.id, values={k: known[k] for k in keys}, source=Source.STREAM
                )
        with platform_device(device.id):
            wanted = keys if keys is not None else tuple(await self._thingsboard.telemetry_keys(platform_id))
            values = await self._thingsboard.latest_readings(platform_id, wanted) if wanted else {}
        return LatestTelemetry(device_id=device.id, values={k: values.get(k) for k in wanted})

    def history_query(
        self,
        keys: tuple[str, ...],
        *,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        aggregation: Aggregation,
        interval_ms: int | None,
        order: SortOrder,
    ) -> HistoryQuery:
        """Validate a history request into a query ThingsBoard can answer cheaply."""
        end = end_ms if end_ms is not None else int(self._clock.now().timestamp() * 1000)
        start = start_ms if start_ms is not None else end - DEFAULT_HISTORY_SPAN_MS
        if start >= end:
            raise InvalidTimeRangeError(f"startTs {start} is not before endTs {end}")
        max_days = self._settings.history_max_range_days
        if end - start > max_days * _DAY_MS:
            raise TimeRangeTooLargeError(f"at most {max_days} days per request")
        interval = 0
        if aggregation is not Aggregation.NONE:
            if not interval_ms:
                raise InvalidAggregationError(f"aggregation {aggregation.value} needs intervalMs")
            buckets = -(-(end - start) // interval_ms)
            if buckets > self._settings.history_max_buckets:
                raise InvalidAggregationError(
                    f"{buckets} intervals; at most {self._settings.history_max_buckets} per request"
                )
            interval = interval_ms
        return HistoryQuery(
            keys=keys,
            start_ms=start,
            end_ms=end,
            limit=limit,
            aggregation=aggregation,
            interval_ms=interval,
            order=order,
        )

    async def history(
        self, user_id: uuid.UUID, device_id: uuid.UUID, query: HistoryQuery
    ) -> TelemetryHistory:
        device = await self._devices.get_owned_ref(user_id, device_id)
        with platform_device(device.id):
            found = await self._thingsboard.reading_history(device.platform_device_id, query)
        # Unknown keys are not an error: the device may not have reported them yet; an empty series says so.
        return TelemetryHistory(
            device_id=device.id, query=query, series={k: found.get(k, []) for k in query.keys}
        )
