"""Timeseries and attributes of every entity, and the change feed built on them."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thingsboard_emulator.contracts import (
    AttributeScope,
    AttributesUpdate,
    EntityListener,
    TimeseriesUpdate,
)

log = logging.getLogger(__name__)

SCOPES: tuple[AttributeScope, ...] = ("CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE")
AGGREGATIONS = ("NONE", "MIN", "MAX", "AVG", "SUM", "COUNT")


@dataclass(slots=True)
class _Series:
    ts: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def put(self, ts: int, value: Any, cap: int = 0) -> None:
        if not self.ts or ts > self.ts[-1]:
            self.ts.append(ts)
            self.values.append(value)
            if cap and len(self.ts) > cap + cap // 8:
                # Long benchmarks would otherwise grow without bound; trim in chunks so appends stay O(1).
                del self.ts[: len(self.ts) - cap]
                del self.values[: len(self.values) - cap]
            return
        index = bisect.bisect_left(self.ts, ts)
        if index < len(self.ts) and self.ts[index] == ts:
            self.values[index] = value  # (entity, key, ts) is the primary key in TB
        else:
            self.ts.insert(index, ts)
            self.values.insert(index, value)


class Events:
    """``EntityEvents``: listeners per entity id."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[EntityListener]] = {}

    def subscribe(self, entity_id: str, listener: EntityListener) -> Callable[[], None]:
        self._listeners.setdefault(entity_id, []).append(listener)

        def unsubscribe() -> None:
            listeners = self._listeners.get(entity_id)
            if listeners and listener in listeners:
                listeners.remove(listener)
                if not listeners:
                    del self._listeners[entity_id]

        return unsubscribe

    def has_listeners(self, entity_id: str) -> bool:
        return entity_id in self._listeners

    def emit(self, entity_id: str, update: TimeseriesUpdate | AttributesUpdate) -> None:
        for listener in tuple(self._listeners.get(entity_id, ())):
            try:
                listener(update)
            except Exception:  # a faulty subscriber must not break the publisher's request
                log.exception("entity listener failed")


PersistHook = Callable[[str, tuple[Any, ...]], None]


class TelemetryStore:
    """In-memory timeseries (sorted per key) and attributes per scope."""

    def __init__(self, events: Events, max_points_per_key: int = 0) -> None:
        self.events = events
        self.max_points_per_key = max_points_per_key  # 0 = keep everything, like TB
        self._series: dict[str, dict[str, _Series]] = {}
        self._latest: dict[str, dict[str, tuple[int, Any]]] = {}
        self._attributes: dict[str, dict[str, dict[str, tuple[int, Any]]]] = {}
        self.persist: PersistHook | None = None

    # --- timeseries -----------------------------------------------------------------------------------------

    def save_timeseries(self, entity_id: str, entries: list[tuple[int, dict[str, Any]]]) -> None:
        series = self._series.setdefault(entity_id, {})
        latest = self._latest.setdefault(entity_id, {})
        changed: dict[str, list[tuple[int, Any]]] = {}
        for ts, values in entries:
            for key, value in values.items():
                s = series.get(key)
                if s is None:
                    s = series[key] = _Series()
                s.put(ts, value, self.max_points_per_key)
                current = latest.get(key)
                if current is None or ts >= current[0]:
                    latest[key] = (ts, value)
                changed.setdefault(key, []).append((ts, value))
                if self.persist is not None:
                    self.persist("ts", (entity_id, key, ts, value))
        if changed and self.events.has_listeners(entity_id):
            for points in changed.values():
                points.sort(key=lambda p: p[0], reverse=True)
            self.events.emit(entity_id, TimeseriesUpdate(entity_id, changed))

    def load_point(self, entity_id: str, key: str, ts: int, value: Any) -> None:
        """Restore one persisted point without events or persistence."""
        self._series.setdefault(entity_id, {}).setdefault(key, _Series()).put(ts, value)
        latest = self._latest.setdefault(entity_id, {})
        current = latest.get(key)
        if current is None or ts >= current[0]:
            latest[key] = (ts, value)

    def timeseries_keys(self, entity_id: str) -> list[str]:
        return list(self._latest.get(entity_id, {}))

    def latest(self, entity_id: str, keys: list[str] | None) -> dict[str, tuple[int, Any]]:
        latest = self._latest.get(entity_id, {})
        if keys is None:
            return dict(latest)
        return {key: latest[key] for key in keys if key in latest}

    def history(
        self,
        entity_id: str,
        keys: list[str],
        start_ts: int,
        end_ts: int,
        *,
        limit: int = 100,
        agg: str = "NONE",
        interval: int | None = None,
        order_desc: bool = True,
    ) -> dict[str, list[tuple[int, Any]]]:
        """``[start_ts, end_ts)``; raw points newest first (``limit`` per key), or aggregated buckets."""
        series = self._series.get(entity_id, {})
        out: dict[str, list[tuple[int, Any]]] = {}
        for key in keys:
            s = series.get(key)
            if s is None:
                continue
            lo = bisect.bisect_left(s.ts, start_ts)
            hi = bisect.bisect_left(s.ts, end_ts)
            if lo >= hi:
                continue
            if agg != "NONE" and interval:
                points = _aggregate(s, lo, hi, start_ts, end_ts, interval=interval, agg=agg)
                if not order_desc:
                    points.reverse()
                points = points[:limit]
            elif order_desc:
                first = max(lo, hi - limit)
                points = [(s.ts[i], s.values[i]) for i in range(hi - 1, first - 1, -1)]
            else:
                last = min(hi, lo + limit)
                points = [(s.ts[i], s.values[i]) for i in range(lo, last)]
            if points:
                out[key] = points
        return out

    def delete_timeseries(self, entity_id: str, keys: list[str], start_ts: int, end_ts: int) -> None:
        series = self._series.get(entity_id, {})
        latest = self._latest.get(entity_id, {})
        for key in keys:
            s = series.get(key)
            if s is None:
                continue
            lo = bisect.bisect_left(s.ts, start_ts)
            hi = bisect.bisect_left(s.ts, end_ts)
            del s.ts[lo:hi]
            del s.values[lo:hi]
            if s.ts:
                latest[key] = (s.ts[-1], s.values[-1])
            else:
                series.pop(key, None)
                latest.pop(key, None)
            if self.persist is not None:
                self.persist("ts_delete", (entity_id, key, start_ts, end_ts))

    # --- attributes -----------------------------------------------------------------------------------------

    def save_attributes(self, entity_id: str, scope: AttributeScope, values: dict[str, Any], ts: int) -> None:
        if not values:
            return
        scoped = self._attributes.setdefault(entity_id, {}).setdefault(scope, {})
        changed: dict[str, tuple[int, Any]] = {}
        for key, value in values.items():
            scoped[key] = changed[key] = (ts, value)
            if self.persist is not None:
                self.persist("attr", (entity_id, scope, key, ts, value))
        if self.events.has_listeners(entity_id):
            self.events.emit(entity_id, AttributesUpdate(entity_id, scope, changed))

    def load_attribute(self, entity_id: str, scope: AttributeScope, key: str, ts: int, value: Any) -> None:
        self._attributes.setdefault(entity_id, {}).setdefault(scope, {})[key] = (ts, value)

    def delete_attributes(self, entity_id: str, scope: AttributeScope, keys: list[str]) -> list[str]:
        scoped = self._attributes.get(entity_id, {}).get(scope, {})
        deleted = [key for key in keys if scoped.pop(key, None) is not None]
        for key in deleted:
            if self.persist is not None:
                self.persist("attr_delete", (entity_id, scope, key))
        if deleted and self.events.has_listeners(entity_id):
            self.events.emit(entity_id, AttributesUpdate(entity_id, scope, {}, tuple(deleted)))
        return deleted

    def attribute(self, entity_id: str, scope: AttributeScope, key: str) -> Any:
        item = self._attributes.get(entity_id, {}).get(scope, {}).get(key)
        return None if item is None else item[1]

    def attributes(
        self, entity_id: str, scope: AttributeScope | None, keys: list[str] | None
    ) -> dict[str, tuple[int, Any]]:
        by_scope = self._attributes.get(entity_id, {})
        out: dict[str, tuple[int, Any]] = {}
        for sc in (scope,) if scope else SCOPES:
            scoped = by_scope.get(sc, {})
            if keys is None:
                out.update(scoped)
            else:
                out.update({k: scoped[k] for k in keys if k in scoped})
        return out

    def attributes_with_scope(
        self, entity_id: str, scope: AttributeScope | None, keys: list[str] | None
    ) -> list[tuple[AttributeScope, str, int, Any]]:
        by_scope = self._attributes.get(entity_id, {})
        rows: list[tuple[AttributeScope, str, int, Any]] = []
        for sc in (scope,) if scope else SCOPES:
            scoped = by_scope.get(sc, {})
            for key in keys if keys is not None else list(scoped):
                if key in scoped:
                    ts, value = scoped[key]
                    rows.append((sc, key, ts, value))
        return rows

    def attribute_keys(self, entity_id: str, scope: AttributeScope | None) -> list[str]:
        keys: list[str] = []
        for sc in (scope,) if scope else SCOPES:
            for key in self._attributes.get(entity_id, {}).get(sc, {}):
                if key not in keys:
                    keys.append(key)
        return keys

    def forget(self, entity_id: str) -> None:
        self._series.pop(entity_id, None)
        self._latest.pop(entity_id, None)
        self._attributes.pop(entity_id, None)
        if self.persist is not None:
            self.persist("forget", (entity_id,))


def _aggregate(
    s: _Series, lo: int, hi: int, start_ts: int, end_ts: int, *, interval: int, agg: str
) -> list[tuple[int, Any]]:
    """TB's chunked aggregation: buckets of ``interval`` from ``start_ts``, stamped at their midpoint."""
    buckets: dict[int, list[Any]] = {}
    for i in range(lo, hi):
        buckets.setdefault((s.ts[i] - start_ts) // interval, []).append(s.values[i])
    out: list[tuple[int, Any]] = []
    for index in sorted(buckets, reverse=True):
        bucket_start = start_ts + index * interval
        bucket_end = min(bucket_start + interval, end_ts)
        ts = bucket_start + (bucket_end - bucket_start) // 2
        value = _reduce(buckets[index], agg)
        if value is not None:
            out.append((ts, value))
    return out


def _reduce(values: list[Any], agg: str) -> Any:  # noqa: PLR0911 - one return per aggregation
    if agg == "COUNT":
        return len(values)
    numbers = [float(v) if isinstance(v, bool) else v for v in values if isinstance(v, int | float)]
    if not numbers:
        if agg in ("MIN", "MAX") and values:
            strings = [str(v) for v in values]
            return min(strings) if agg == "MIN" else max(strings)
        return None
    if agg == "MIN":
        return min(numbers)
    if agg == "MAX":
        return max(numbers)
    if agg == "SUM":
        return sum(numbers)
    return sum(numbers) / len(numbers)
