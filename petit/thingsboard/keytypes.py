"""Values off ThingsBoard's WebSocket, typed as ThingsBoard stored them.

ThingsBoard's WebSocket sends every value as a string (``KvEntry.getValueAsString()``): ``"true"``,
``"21.5"``, ``"{\\"a\\":1}"``; a boolean and the string ``"true"`` look alike. Its strict REST reads
(``useStrictDataTypes``) do not.
:class:`KeyTypes` learns each key's kind from one strict read per device and key, remembers it, and coerces
the WebSocket's strings accordingly, so a reading has the same JSON type on REST, ``/ws``, SSE and in history.

Nothing is guessed: a key stored as a string stays a string even when it reads ``"true"``. A string that does
not fit the learned kind (the device changed what it sends) makes the key be learned again from ThingsBoard;
if it still does not fit, ThingsBoard stored that sample as text and it stays text. Only when ThingsBoard
cannot answer the strict read does the value fall back to :func:`typed_value` (numbers as numbers), unlearned,
so the next update asks again.
"""

from __future__ import annotations

import enum
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from petit.thingsboard.mapping import typed_value
from petit.thingsboard.models import Reading

if TYPE_CHECKING:
    from uuid import UUID

    from petit.thingsboard.models import Value

log = logging.getLogger(__name__)

#: Learned (device, key) kinds kept per process; the oldest are forgotten first.
MAX_KEYS = 200_000

StrictLatest = Callable[["UUID", Sequence[str]], Awaitable[Mapping[str, Reading | None]]]


class Kind(enum.Enum):
    BOOLEAN = "boolean"
    NUMBER = "number"
    STRING = "string"
    JSON = "json"


class _MisfitError(Exception):
    pass


def kind_of(value: Value) -> Kind | None:
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, int | float):
        return Kind.NUMBER
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, dict | list):
        return Kind.JSON
    return None


def coerce(text: str, kind: Kind) -> Value:
    """``text`` as a value of ``kind``; ``_MisfitError`` when it cannot be one."""
    if kind is Kind.STRING:
        return text
    if kind is Kind.BOOLEAN:
        if text == "true":
            return True
        if text == "false":
            return False
        raise _MisfitError
    if kind is Kind.NUMBER:
        number = typed_value(text)
        # Java's Double.toString writes large and tiny doubles as 1.0E7, a valid JSON number too.
        if isinstance(number, int | float) and not isinstance(number, bool):
            return number
        raise _MisfitError
    try:
        parsed = json.loads(text)
    except ValueError:
        raise _MisfitError from None
    if not isinstance(parsed, dict | list):
        raise _MisfitError
    return parsed


class KeyTypes:
    """Per-process memory of each (device, key)'s stored kind; ``typed`` makes WebSocket strings values."""

    def __init__(self, strict_latest: StrictLatest, *, max_keys: int = MAX_KEYS) -> None:
        self._strict_latest = strict_latest
        self._max_keys = max_keys
        self._kinds: OrderedDict[tuple[UUID, str], Kind] = OrderedDict()
        #: Strict reads made to learn kinds (tests and the bench read it).
        self.lookups = 0

    def learn(self, device_id: UUID, values: Mapping[str, Reading | None]) -> None:
        """Remember kinds seen in a strict read (the REST latest path feeds this too)."""
        for key, reading in values.items():
            kind = kind_of(reading.value) if reading is not None else None
            if kind is not None:
                self._remember(device_id, key, kind)

    def forget(self, device_id: UUID) -> None:
        for entry in [entry for entry in self._kinds if entry[0] == device_id]:
            del self._kinds[entry]

    def _remember(self, device_id: UUID, key: str, kind: Kind) -> None:
        self._kinds[(device_id, key)] = kind
        self._kinds.move_to_end((device_id, key))
        while len(self._kinds) > self._max_keys:
            self._kinds.popitem(last=False)

    async def typed(self, device_id: UUID, readings: Mapping[str, Reading]) -> dict[str, Reading]:
        result: dict[str, Reading] = {}
        unsure: list[str] = []
        for key, reading in readings.items():
            value = reading.value
            kind = self._kinds.get((device_id, key))
            if not isinstance(value, str):
                result[key] = reading  # already typed (a fake, or a future ThingsBoard)
                continue
            if kind is not None:
                try:
                    result[key] = Reading(ts_ms=reading.ts_ms, value=coerce(value, kind))
                    continue
                except _MisfitError:
                    pass
            unsure.append(key)
        if unsure:
            result.update(await self._learn_and_type(device_id, {k: readings[k] for k in unsure}))
        return {key: result[key] for key in readings}

    async def _learn_and_type(self, device_id: UUID, readings: Mapping[str, Reading]) -> dict[str, Reading]:
        self.lookups += 1
        try:
            strict = await self._strict_latest(device_id, tuple(readings))
        except Exception:
            log.warning("thingsboard.keytypes.lookup_failed", exc_info=True)
            return {k: Reading(ts_ms=r.ts_ms, value=typed_value(r.value)) for k, r in readings.items()}
        self.learn(device_id, strict)
        result: dict[str, Reading] = {}
        for key, reading in readings.items():
            stored = strict.get(key)
            text = reading.value
            assert isinstance(text, str)
            if stored is not None and stored.ts_ms == reading.ts_ms:
                result[key] = stored  # the very sample: ThingsBoard's own typed value
                continue
            kind = kind_of(stored.value) if stored is not None else None
            try:
                value: Value = coerce(text, kind) if kind is not None else text
            except _MisfitError:
                value = text  # stored as text at this sample
            result[key] = Reading(ts_ms=reading.ts_ms, value=value)
        return result


__all__ = ["KeyTypes", "Kind", "coerce", "kind_of"]
