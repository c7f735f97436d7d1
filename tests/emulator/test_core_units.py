"""The core's pure parts: value typing and rendering, timeseries storage, the change feed."""

from __future__ import annotations

import pytest

from thingsboard_emulator.contracts import AttributesUpdate, DeviceApiError, TimeseriesUpdate
from thingsboard_emulator.core.telemetry import Events, TelemetryStore
from thingsboard_emulator.core.values import cast_value, java_double, parse_telemetry, to_str

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "typed"),
    [
        ("12", 12),
        ("-3.5", -3.5),
        ("1.2.3", "1.2.3"),
        ("abc", "abc"),
        (True, True),
        (2**64, str(2**64)),
        ({"a": 1}, {"a": 1}),
        (None, None),
    ],
)
def test_cast_value(raw: object, typed: object) -> None:
    assert cast_value(raw) == typed


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42.0, "42.0"),
        (73.4, "73.4"),
        (1e7, "1.0E7"),
        (1.5e-4, "1.5E-4"),
        (-2.5e10, "-2.5E10"),
        (0.001, "0.001"),
    ],
)
def test_java_double(value: float, text: str) -> None:
    assert java_double(value) == text


def test_to_str() -> None:
    assert [to_str(v) for v in (True, 5, "x", [1, {"a": None}], None)] == [
        "true",
        "5",
        "x",
        '[1,{"a":null}]',
        None,
    ]


def test_parse_telemetry_forms_and_errors() -> None:
    assert parse_telemetry({"a": 1, "b": None}, 7) == [(7, {"a": 1})]
    assert parse_telemetry({"ts": 5, "values": {"a": 1}}, 7) == [(5, {"a": 1})]
    assert parse_telemetry({"ts": 5, "other": 1}, 7) == [(7, {"ts": 5, "other": 1})]  # both keys or neither
    assert parse_telemetry([{"a": 1}, {"ts": 1, "values": {"b": 2}}], 7) == [(7, {"a": 1}), (1, {"b": 2})]
    for bad in (42, "x", [1], [{"ts": "x", "values": {}}], {"": 1}):
        with pytest.raises(DeviceApiError) as exc:
            parse_telemetry(bad, 7)
        assert exc.value.kind == "bad_payload"


def test_store_history_latest_and_cap() -> None:
    store = TelemetryStore(Events(), max_points_per_key=100)
    store.save_timeseries("e", [(ts, {"k": ts}) for ts in range(300)])
    kept = store.history("e", ["k"], 0, 1000, limit=1000)["k"]
    assert len(kept) <= 100 + 100 // 8
    assert kept[0] == (299, 299)
    store.save_timeseries("e", [(50, {"late": 1}), (10, {"late": 2}), (50, {"late": 3})])
    assert store.history("e", ["late"], 0, 100)["late"] == [(50, 3), (10, 2)]
    assert store.latest("e", ["late"]) == {"late": (50, 3)}


def test_events_deliver_only_to_the_entity_and_unsubscribe() -> None:
    events = Events()
    store = TelemetryStore(events)
    seen: list[object] = []
    unsubscribe = events.subscribe("a", seen.append)
    store.save_timeseries("a", [(1, {"t": 1})])
    store.save_timeseries("b", [(1, {"t": 2})])
    store.save_attributes("a", "SHARED_SCOPE", {"x": 1}, 5)
    store.delete_attributes("a", "SHARED_SCOPE", ["x", "missing"])
    assert seen == [
        TimeseriesUpdate("a", {"t": [(1, 1)]}),
        AttributesUpdate("a", "SHARED_SCOPE", {"x": (5, 1)}),
        AttributesUpdate("a", "SHARED_SCOPE", {}, ("x",)),
    ]
    unsubscribe()
    store.save_timeseries("a", [(2, {"t": 3})])
    assert len(seen) == 3


def test_a_failing_listener_does_not_break_the_publisher() -> None:
    events = Events()
    store = TelemetryStore(events)

    def boom(_: object) -> None:
        raise RuntimeError("listener bug")

    got: list[object] = []
    events.subscribe("a", boom)
    events.subscribe("a", got.append)
    store.save_timeseries("a", [(1, {"t": 1})])
    assert len(got) == 1
