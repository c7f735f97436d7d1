"""A bounded, reproducible fuzz campaign over the parsers petit owns (hypothesis, derandomized).

Each property says what the parser may do with anything from outside: return, or refuse with its documented
error type. Any other exception is a bug (for petit's HTTP side: a 500).
"""

from __future__ import annotations

import json
import math
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.core import localapi
from petit.errors import PetitError
from petit.lib.jsonguard import check_json
from petit.thingsboard.errors import ThingsBoardError, ThingsBoardProtocolError
from petit.thingsboard.mapping import error_from_tb, history_from_tb, latest_from_tb, typed_value

pytestmark = pytest.mark.unit

CAMPAIGN = settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_safe_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | _text
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)
_clean = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _safe_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_safe_text, inner, max_size=4),
    max_leaves=20,
)


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


_bodies = st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode())


def _refusal(call: Any, error: type[Exception]) -> Exception | None:
    try:
        call()
    except error as refused:
        return refused
    return None


@CAMPAIGN
@given(_bodies | st.integers(1, 60).map(_nested))
def test_the_json_guard_decodes_or_refuses_with_a_problem(raw: bytes) -> None:
    refused = _refusal(lambda: check_json(raw), PetitError)
    if refused is not None:
        assert isinstance(refused, PetitError)
        assert 400 <= refused.status < 500
        assert refused.code


@CAMPAIGN
@given(_clean)
def test_clean_json_passes_the_guard_unchanged(value: Any) -> None:
    assert check_json(json.dumps(value).encode()) == value


@CAMPAIGN
@given(_bodies)
def test_the_device_local_api_parses_or_answers_a_4xx(body: bytes) -> None:
    refused = _refusal(lambda: localapi.validate_config(body), localapi.ApiError)
    if refused is not None:
        assert isinstance(refused, localapi.ApiError)
        assert 400 <= refused.status < 500
        json.dumps(refused.body())


@CAMPAIGN
@given(_json)
def test_typed_values_are_json_values(value: Any) -> None:
    typed = typed_value(value)
    if isinstance(typed, float):
        assert math.isfinite(typed)
    json.dumps(typed)


@CAMPAIGN
@given(_json, st.lists(st.text(string.ascii_letters, min_size=1, max_size=5), max_size=4))
def test_telemetry_mapping_maps_or_calls_it_a_protocol_error(data: Any, keys: list[str]) -> None:
    _refusal(lambda: latest_from_tb(data, keys), ThingsBoardProtocolError)
    _refusal(lambda: history_from_tb(data), ThingsBoardProtocolError)


@CAMPAIGN
@given(
    st.integers(0, 599),
    st.none() | st.binary(max_size=200) | _text | _json,
    st.none() | st.dictionaries(st.sampled_from(["Retry-After", "retry-after", "X"]), _text, max_size=2),
    st.booleans(),
)
def test_any_thingsboard_error_answer_is_classified(status: int, body: Any, headers: Any, rpc: bool) -> None:
    assert isinstance(error_from_tb(status, body, headers, rpc=rpc), ThingsBoardError)
