from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from petit.devices.errors import DeviceNotFoundError
from petit.telemetry.errors import (
    InvalidAggregationError,
    InvalidTelemetryKeysError,
    InvalidTimeRangeError,
    TimeRangeTooLargeError,
)
from petit.telemetry.services import TelemetryService, parse_keys
from petit.thingsboard.errors import ThingsBoardUnavailableError
from petit.thingsboard.models import Aggregation, SortOrder
from tests.unit.devicedata.conftest import NOW, World

if TYPE_CHECKING:
    from petit.thingsboard.models import HistoryQuery

pytestmark = pytest.mark.unit

NOW_MS = int(NOW.timestamp() * 1000)


def service(world: World) -> TelemetryService:
    return TelemetryService(
        devices=world.devices,
        thingsboard=world.thingsboard,
        clock=world.clock,
        settings=world.telemetry_settings,
    )


def query(world: World, keys: tuple[str, ...] = ("t",), **overrides: object) -> HistoryQuery:
    options: dict[str, object] = {
        "start_ms": None,
        "end_ms": None,
        "limit": 100,
        "aggregation": Aggregation.NONE,
        "interval_ms": None,
        "order": SortOrder.DESC,
    }
    options.update(overrides)
    return service(world).history_query(keys, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("t", ("t",)), (" a , b ,a", ("a", "b")), ("x.y:z-1_2", ("x.y:z-1_2",)), (None, None), ("  ", None)],
)
def test_keys_parse_in_request_order_without_duplicates(raw: str | None, expected: object) -> None:
    assert parse_keys(raw, required=False) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "a,,b", "a b", "ä", "x" * 65, ",".join(["k"] * 1 + [f"k{i}" for i in range(50)])]
)
def test_bad_keys_are_refused(raw: str | None) -> None:
    with pytest.raises(InvalidTelemetryKeysError):
        parse_keys(raw, required=True)


async def test_latest_reads_only_owned_devices(world: World) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    device = await world.device(alice)
    world.thingsboard.record_reading(device.platform_device_id, "t", 21.5, NOW_MS - 1000)
    world.thingsboard.record_reading(device.platform_device_id, "t", 22.0, NOW_MS)

    latest = await service(world).latest(alice, device.id, ("t", "never"))
    assert latest.values["t"] is not None
    assert latest.values["t"].value == 22.0
    assert latest.values["never"] is None
    everything = await service(world).latest(alice, device.id, None)
    assert list(everything.values) == ["t"]

    for who, which in ((bob, device.id), (alice, uuid.uuid4())):
        with pytest.raises(DeviceNotFoundError):
            await service(world).latest(who, which, ("t",))


async def test_a_device_that_never_reported_has_no_keys_and_costs_one_call(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    world.thingsboard.calls.clear()
    latest = await service(world).latest(owner, device.id, None)
    assert latest.values == {}
    assert world.thingsboard.calls == ["telemetry_keys"]


async def test_history_has_a_series_for_every_requested_key(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    for i in range(5):
        world.thingsboard.record_reading(device.platform_device_id, "t", i, NOW_MS - 10_000 + i * 1000)
    history = await service(world).history(owner, device.id, query(world, ("t", "unknown"), limit=3))
    assert [r.value for r in history.series["t"]] == [4, 3, 2]
    assert history.series["unknown"] == []


def test_history_query_defaults_to_the_last_day(world: World) -> None:
    q = query(world)
    assert (q.start_ms, q.end_ms) == (NOW_MS - 86_400_000, NOW_MS)
    assert q.interval_ms == 0


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"start_ms": 5, "end_ms": 5}, InvalidTimeRangeError),
        ({"start_ms": 6, "end_ms": 5}, InvalidTimeRangeError),
        ({"start_ms": 0, "end_ms": 31 * 86_400_000 + 1}, TimeRangeTooLargeError),
        ({"aggregation": Aggregation.AVG}, InvalidAggregationError),
        ({"aggregation": Aggregation.MAX, "interval_ms": 1}, InvalidAggregationError),
    ],
)
def test_bad_history_queries_are_refused(
    world: World, overrides: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        query(world, **overrides)


def test_the_range_limit_is_a_setting(world: World) -> None:
    assert query(world, start_ms=0, end_ms=31 * 86_400_000).end_ms == 31 * 86_400_000
    world.telemetry_settings = world.telemetry_settings.model_copy(update={"history_max_range_days": 1})
    with pytest.raises(TimeRangeTooLargeError):
        query(world, start_ms=0, end_ms=86_400_001)


async def test_platform_outages_surface_as_typed_errors(world: World) -> None:
    owner = uuid.uuid4()
    device = await world.device(owner)
    world.thingsboard.down = True
    with pytest.raises(ThingsBoardUnavailableError):
        await service(world).latest(owner, device.id, ("t",))
