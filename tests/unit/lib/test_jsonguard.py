"""petit.lib.jsonguard: the rules every outside JSON document obeys, checked without recursion."""

from __future__ import annotations

import json

import pytest

from petit.errors import MalformedJsonError, ValidationFailedError
from petit.lib.jsonguard import JsonLimits, JsonTooDeepError, JsonTooLargeError, check_json, check_query


def test_ordinary_documents_pass() -> None:
    doc = {"a": [1, 2.5, None, True, "x"], "b": {"c": '\\"]]]'}}
    assert check_json(json.dumps(doc).encode()) == doc


def test_brackets_inside_strings_do_not_count() -> None:
    assert check_json(json.dumps({"a": "[" * 5000}).encode()) == {"a": "[" * 5000}


@pytest.mark.parametrize("depth", [33, 1_000, 9_000])
def test_depth_is_limited_without_recursing(depth: int) -> None:
    with pytest.raises(JsonTooDeepError):
        check_json(b"[" * depth + b"]" * depth)


def test_exactly_the_limit_passes() -> None:
    assert check_json(b"[" * 32 + b"]" * 32) is not None


def test_element_count_is_limited() -> None:
    with pytest.raises(JsonTooLargeError):
        check_json(json.dumps(list(range(10_001))).encode())
    with pytest.raises(JsonTooLargeError):
        check_json(b"[" * 20_000, JsonLimits(max_depth=10**6))


@pytest.mark.parametrize("raw", [b"\xff", b'"\xed\xa0\x80"', b"{", b'"\\ud800"', b"", b"nul"])
def test_undecodable_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedJsonError):
        check_json(raw)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"a": {"b": ["ok", "x\u0000"]}}, "a.b[1]"),
        ({"k\u0000": 1}, "k\ufffd"),
        ({"n": 2**63}, "n"),
        ({"n": [-(2**63) - 1]}, "n[0]"),
        # Floats obey the same bound: the document's JsonValue states one minimum/maximum for all numbers.
        ({"f": 1e19}, "f"),
        ({"f": {"g": -1.5e300}}, "f.g"),
    ],
)
def test_unstorable_values_name_their_field(doc: object, field: str) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        check_json(json.dumps(doc).encode())
    assert [e.field for e in caught.value.errors] == [field]


def test_int64_bounds_pass() -> None:
    assert check_json(json.dumps([2**63 - 1, -(2**63)]).encode()) == [2**63 - 1, -(2**63)]


def test_floats_inside_the_bounds_pass() -> None:
    assert check_json(b"[1.5, -2.5e18, 9.2e18, 1e-300]") == [1.5, -2.5e18, 9.2e18, 1e-300]


@pytest.mark.parametrize("value", ["9" * 20, "9" * 10_000, "-9223372036854775809", "a\u0000"])
def test_query_values(value: str) -> None:
    with pytest.raises(ValidationFailedError):
        check_query({"q": [value]})
    check_query({"q": ["9223372036854775807", "abc", "-1"]})
