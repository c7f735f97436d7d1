"""ThingsBoard failures that features do not handle become one problem each, in petit/errors.py."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from petit.errors import exception_handlers
from petit.thingsboard.errors import (
    ThingsBoardAuthError,
    ThingsBoardConflictError,
    ThingsBoardError,
    ThingsBoardForbiddenError,
    ThingsBoardNotFoundError,
    ThingsBoardProtocolError,
    ThingsBoardRateLimitedError,
    ThingsBoardTimeoutError,
    ThingsBoardUnavailableError,
)

pytestmark = pytest.mark.unit


def answer(error: ThingsBoardError) -> tuple[int, str, str | None]:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise error

    with TestClient(Litestar([boom], exception_handlers=exception_handlers())) as http:
        response = http.get("/boom")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "secret-detail" not in response.text
    return response.status_code, response.json()["code"], response.headers.get("retry-after")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ThingsBoardUnavailableError("secret-detail", status=502), (503, "thingsboard_unavailable", "5")),
        (
            ThingsBoardUnavailableError("secret-detail", request_sent=False),
            (503, "thingsboard_unavailable", "5"),
        ),
        (ThingsBoardAuthError("secret-detail", status=401), (503, "thingsboard_unavailable", "5")),
        (ThingsBoardForbiddenError("secret-detail", status=403), (503, "thingsboard_unavailable", "5")),
        (
            ThingsBoardRateLimitedError("secret-detail", retry_after_s=12.2),
            (503, "thingsboard_unavailable", "13"),
        ),
        (ThingsBoardRateLimitedError("secret-detail"), (503, "thingsboard_unavailable", "5")),
        (ThingsBoardTimeoutError("secret-detail", status=504), (504, "device_unresponsive", None)),
        (ThingsBoardNotFoundError("secret-detail", status=404), (502, "thingsboard_failed", None)),
        (ThingsBoardConflictError("secret-detail", status=400), (502, "thingsboard_failed", None)),
        (ThingsBoardProtocolError("secret-detail"), (502, "thingsboard_failed", None)),
    ],
)
def test_each_platform_failure_has_one_problem(
    error: ThingsBoardError, expected: tuple[int, str, str | None]
) -> None:
    assert answer(error) == expected


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_refused_credentials_are_logged_for_operators() -> None:
    # A handler on the logger itself: Litestar reconfigures logging, so caplog's root handler may miss it.
    handler = _Records()
    logger = logging.getLogger("petit.errors")
    logger.addHandler(handler)
    try:
        answer(ThingsBoardAuthError("bad password", status=401))
    finally:
        logger.removeHandler(handler)
    assert any(r.levelno == logging.CRITICAL and "auth_failed" in r.getMessage() for r in handler.records)
