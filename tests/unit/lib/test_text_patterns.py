"""Every text pattern petit publishes means the same to Python (the server) and to a JSON Schema validator.

A client, a generated SDK or a fuzzer reads ``pattern`` in its own regex dialect; where dialects disagree (for
``\\s`` they do), the document would accept what the server refuses. jsonschema_rs is the validator
schemathesis checks responses and requests with.
"""

from __future__ import annotations

import re

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petit.auth.schemas import EMAIL_PATTERN
from petit.commands.schemas import FUNCTION_PATTERN, SETTINGS_KEY_PATTERN
from petit.devices.schemas import LABEL_PATTERN, NAME_PATTERN
from petit.lib.text import WHITESPACE
from petit.telemetry.controllers import KEYS_PATTERN, REQUIRED_KEYS_PATTERN

pytestmark = pytest.mark.unit

PATTERNS = {
    "email": EMAIL_PATTERN,
    "name": NAME_PATTERN,
    "label": LABEL_PATTERN,
    "keys": KEYS_PATTERN,
    "required keys": REQUIRED_KEYS_PATTERN,
    "function": FUNCTION_PATTERN,
    "settings key": SETTINGS_KEY_PATTERN,
}
#: The characters where dialects differ, and the ones the rules are about.
TRICKY = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
    "\x00\x01\x07\x1b\x7f\x80\x9f@.,:-_aZ09é😀"
)
TEXT = st.text(alphabet=st.sampled_from(TRICKY), max_size=40)


def test_whitespace_is_exactly_what_strip_removes() -> None:
    every_space = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert re.fullmatch(f"[{WHITESPACE}]+", every_space)
    assert not any(re.fullmatch(f"[{WHITESPACE}]", chr(c)) for c in range(0x110000) if not chr(c).isspace())


@pytest.mark.parametrize("name", PATTERNS)
@settings(max_examples=400, derandomize=True, suppress_health_check=list(HealthCheck), deadline=None)
@given(value=TEXT)
def test_python_and_json_schema_agree(name: str, value: str) -> None:
    pattern = PATTERNS[name]
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    assert validator.is_valid(value) == bool(re.fullmatch(pattern, value)), (name, value)
