"""WebSocket strings typed as ThingsBoard stored them: learned once per key, never guessed."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from petit.thingsboard.errors import ThingsBoardUnavailableError
from petit.thingsboard.keytypes import KeyTypes, Kind, coerce
from petit.thingsboard.models import Reading, Value

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

pytestmark = pytest.mark.unit

DEVICE = uuid.uuid4()


class Strict:
    """A strict latest read over a fixed store; counts calls."""

    def __init__(self, stored: dict[str, Reading]) -> None:
        self.stored = stored
        self.calls: list[tuple[str, ...]] = []
        self.fail = False

    async def __call__(self, device_id: uuid.UUID, keys: Sequence[str]) -> Mapping[str, Reading | None]:
        self.calls.append(tuple(keys))
        if self.fail:
            raise ThingsBoardUnavailableError("down")
        return {k: self.stored.get(k) for k in keys}


def _ws(values: dict[str, str], ts: int = 2000) -> dict[str, Reading]:
    return {k: Reading(ts_ms=ts, value=v) for k, v in values.items()}


def _values(readings: Mapping[str, Reading]) -> dict[str, Value]:
    return {k: r.value for k, r in readings.items()}


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("true", Kind.BOOLEAN, True),
        ("false", Kind.BOOLEAN, False),
        ("true", Kind.STRING, "true"),
        ("3", Kind.NUMBER, 3),
        ("21.5", Kind.NUMBER, 21.5),
        ("1.0E7", Kind.NUMBER, 1.0e7),
        ('{"a":[1,true]}', Kind.JSON, {"a": [1, True]}),
        ("42", Kind.STRING, "42"),
    ],
)
def test_coerce(text: str, kind: Kind, value: Value) -> None:
    got = coerce(text, kind)
    assert got == value
    assert type(got) is type(value)


async def test_kinds_are_learned_once_and_strings_that_look_like_booleans_stay_strings() -> None:
    stored = {
        "led": Reading(1000, False),
        "mode": Reading(1000, "true"),
        "t": Reading(1000, 20.5),
        "cfg": Reading(1000, {"a": 1}),
    }
    strict = Strict(stored)
    types = KeyTypes(strict)
    first = await types.typed(DEVICE, _ws({"led": "true", "mode": "false", "t": "21", "cfg": '{"b":2}'}))
    assert _values(first) == {"led": True, "mode": "false", "t": 21, "cfg": {"b": 2}}
    assert isinstance(first["led"].value, bool)
    again = await types.typed(DEVICE, _ws({"led": "false", "mode": "true"}, ts=3000))
    assert _values(again) == {"led": False, "mode": "true"}
    assert len(strict.calls) == 1


async def test_the_very_sample_takes_thingsboards_own_value() -> None:
    strict = Strict({"x": Reading(2000, True)})
    types = KeyTypes(strict)
    assert _values(await types.typed(DEVICE, _ws({"x": "true"}))) == {"x": True}


async def test_a_misfit_relearns_and_stays_text_when_stored_as_text() -> None:
    strict = Strict({"x": Reading(1000, 1)})
    types = KeyTypes(strict)
    assert _values(await types.typed(DEVICE, _ws({"x": "2"}))) == {"x": 2}
    strict.stored["x"] = Reading(2500, "hello")
    assert _values(await types.typed(DEVICE, _ws({"x": "hello"}, ts=2500))) == {"x": "hello"}
    assert len(strict.calls) == 2


async def test_lookup_failure_falls_back_to_numbers_and_asks_again() -> None:
    strict = Strict({"x": Reading(1000, True)})
    strict.fail = True
    types = KeyTypes(strict)
    assert _values(await types.typed(DEVICE, _ws({"x": "true", "n": "5"}))) == {"x": "true", "n": 5}
    strict.fail = False
    assert _values(await types.typed(DEVICE, _ws({"x": "true"}))) == {"x": True}
    types.forget(DEVICE)
    await types.typed(DEVICE, _ws({"x": "true"}))
    assert len(strict.calls) == 3


async def test_values_already_typed_pass_through() -> None:
    strict = Strict({})
    types = KeyTypes(strict)
    assert _values(await types.typed(DEVICE, {"x": Reading(1, 5)})) == {"x": 5}
    assert strict.calls == []
