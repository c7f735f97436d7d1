"""The rules every JSON document from outside obeys before anything recursive or any database sees it.

One function, :func:`check_json`, used by the request hook (every HTTP body), the WebSocket reader and the
fuzz tests. It refuses, in this order:

* bytes that are not UTF-8 (:class:`MalformedJsonError`, 400);
* more than ``max_elements`` values (413) or deeper nesting than ``max_depth`` (400), found by counting
  brackets outside strings, without recursion: the JSON decoders petit uses recurse, and a body of twenty
  thousand ``[`` exhausts the interpreter's stack (a RecursionError, which would otherwise be a 500);
* text that is not JSON (400);
* strings (keys included) holding NUL or lone surrogates, which PostgreSQL refuses in ``text`` and ``jsonb``,
  and numbers outside the signed 64-bit range (422, naming the field as a dotted path): neither PostgreSQL's
  ``bigint`` nor ThingsBoard's ``long`` holds such an integer (ThingsBoard refuses "big integer values"), and
  floats are held to the same bound so that the rule is one JSON Schema ``minimum``/``maximum``
  (``JsonValue`` in :mod:`petit.openapi_rules`), which cannot tell ``1e19`` from ``10000000000000000000``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from petit.errors import (
    FieldError,
    JsonTooDeepError,
    JsonTooLargeError,
    MalformedJsonError,
    ValidationFailedError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Deep enough for any document petit defines (the deepest is a few levels) with room for app metadata.
MAX_DEPTH = 32
#: Values in one document; a 64 KiB body of ``[0,0,...]`` has about 32,000.
MAX_ELEMENTS = 10_000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# A JSON string, with its escapes; replaced by "" so brackets and commas inside strings do not count.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int = MAX_DEPTH
    max_elements: int = MAX_ELEMENTS


DEFAULT_LIMITS = JsonLimits()


def check_shape(raw: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> None:
    """Refuse non-UTF-8, too many values or too deep nesting, without parsing (so without recursing)."""
    try:
        raw.decode()
    except UnicodeDecodeError:
        raise MalformedJsonError("the body is not UTF-8") from None
    bare = _STRING.sub(b'""', raw)
    # Every value but the first is preceded by a comma or opens a container: an upper bound, computed in C.
    elements = bare.count(b",") + bare.count(b"[") + bare.count(b"{") + 1
    if elements > limits.max_elements:
        raise JsonTooLargeError(f"at most {limits.max_elements} values")
    depth = 0
    for match in _BRACKETS.finditer(bare):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limits.max_depth:
                raise JsonTooDeepError(f"at most {limits.max_depth} levels of nesting")
        else:
            depth -= 1


def check_values(value: Any) -> None:
    """Refuse strings and integers the database or ThingsBoard cannot store; iterative, so never deep."""
    errors: list[FieldError] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack and len(errors) < 10:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if _BAD_CHARS.search(key):
                    errors.append(FieldError(field=_printable(child_path), message=_BAD_TEXT))
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, str):
            if _BAD_CHARS.search(item):
                errors.append(FieldError(field=_printable(path), message=_BAD_TEXT))
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and not INT64_MIN <= item <= INT64_MAX
        ):
            errors.append(FieldError(field=_printable(path), message=_OUT_OF_RANGE))
    if errors:
        raise ValidationFailedError(errors=errors)


_BAD_TEXT = "must not contain NUL characters or unpaired surrogates"
_OUT_OF_RANGE = "number out of the signed 64-bit range"


_INTEGER = re.compile(r"[+-]?\d+")


def check_query(params: Mapping[str, list[str]]) -> None:
    """The same rules for query parameters: text the database cannot store, integers no column can hold."""
    check_values({key: values if len(values) > 1 else values[0] for key, values in params.items()})
    for key, values in params.items():
        for value in values:
            if _INTEGER.fullmatch(value.strip()) and not _fits_int64(value.strip()):
                raise ValidationFailedError(
                    errors=[
                        FieldError(field=_printable(key), message="integer out of the signed 64-bit range")
                    ]
                )


def _fits_int64(digits: str) -> bool:
    # Python refuses int() of very long digit strings (a ValueError); no such string fits anyway.
    if len(digits.lstrip("+-").lstrip("0")) > 19:
        return False
    return INT64_MIN <= int(digits) <= INT64_MAX


def _printable(path: str) -> str:
    # The path is echoed back in the problem; the very characters it complains about must not be.
    return _BAD_CHARS.sub("\ufffd", path)[:200]


def check_json(raw: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """Check and decode one JSON document from outside; raise a :class:`PetitError` on anything refused."""
    check_shape(raw, limits)
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        if "out of range" in str(exc):
            raise ValidationFailedError(
                errors=[FieldError(field="", message="number out of range")]
            ) from None
        raise MalformedJsonError from None
    check_values(value)
    return value


__all__ = [
    "DEFAULT_LIMITS",
    "JsonLimits",
    "JsonTooDeepError",
    "JsonTooLargeError",
    "check_json",
    "check_query",
    "check_shape",
    "check_values",
]
