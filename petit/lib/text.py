r"""Character classes for the text rules petit publishes as OpenAPI ``pattern`` and checks with :mod:`re`.

The same pattern is read by Python (the server), by JSON Schema validators (ECMA-262 or Rust dialects, as in
schemathesis and most generated clients) and by test generators. ``\s``, ``.`` and ``$`` mean different things
in each (Python's ``\s`` includes U+001C-U+001F, ECMA's does not), so these rules spell every class out; with
explicit classes and ``^...$`` read by ``fullmatch``, every dialect accepts exactly the same strings.
"""

from __future__ import annotations

#: Exactly what ``str.isspace`` (and so ``str.strip``) treats as whitespace.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: C0 and C1 controls and the Unicode line/paragraph separators: they end up in logs and operators' UIs.
CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"


def trimmed_text(min_length: int, max_length: int) -> str:
    """Text of ``min_length``..``max_length`` characters after trimming, with no control characters.

    The inner text starts and ends with a visible character; surrounding whitespace is allowed (the server
    trims it), so the whole rule, length included, is one pattern.
    """
    edge = rf"[^{WHITESPACE}{CONTROL}]"
    inner = rf"{edge}(?:[^{CONTROL}]{{0,{max_length - 2}}}{edge})?"
    return rf"^[{WHITESPACE}]*{inner if min_length else f'(?:{inner})?'}[{WHITESPACE}]*$"
