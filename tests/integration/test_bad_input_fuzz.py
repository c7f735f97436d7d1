"""The whole HTTP stack over arbitrary bodies (a bounded, derandomized hypothesis campaign): a problem,
never a 500. tests/unit/fuzz has the parsers on their own."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)
_bodies = st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode())


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def test_any_body_gets_a_problem_never_a_500(tmp_path: Path) -> None:
    # The whole HTTP stack (guard, decoders, exception handlers) over arbitrary bodies and content types, on
    # the embedded defaults with no ThingsBoard configured (so a body good enough to reach one answers 503).
    import secrets  # noqa: PLC0415

    from litestar.testing import TestClient  # noqa: PLC0415

    from petit.app import create_app  # noqa: PLC0415
    from petit.db.migrate import upgrade  # noqa: PLC0415
    from petit.settings import Environment, Settings  # noqa: PLC0415

    settings = Settings(
        environment=Environment.TEST,
        db={"url": f"sqlite+aiosqlite:///{tmp_path}/fuzz.sqlite3"},  # type: ignore[arg-type]
        auth={"jwt_secret": secrets.token_urlsafe(32)},  # type: ignore[arg-type]
    )
    upgrade(settings.db.url)
    with TestClient(create_app(settings)) as client:

        @settings_for_app
        @given(
            _bodies | st.integers(1, 60).map(_nested),
            st.sampled_from(["application/json", "application/problem+json", "text/plain", ""]),
            st.sampled_from(["/devices", "/auth/login", "/gateway/device-data/ingest", "/claims"]),
        )
        def answer(body: bytes, content_type: str, path: str) -> None:
            response = client.post(path, content=body, headers={"content-type": content_type})
            problem = response.json()
            unconfigured = (response.status_code, problem.get("code")) == (503, "thingsboard_unavailable")
            assert 400 <= response.status_code < 500 or unconfigured, (response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert {"type", "title", "status", "code"} <= set(problem)
            assert problem["status"] == response.status_code

        answer()


settings_for_app = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
