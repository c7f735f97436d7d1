"""The client's error translation and retry policy, without any network."""

from __future__ import annotations

import pytest
import urllib3
from tb_rest_client.rest import ApiException

from petit.thingsboard import (
    ThingsBoardConfig,
    ThingsBoardNotFoundError,
    ThingsBoardProtocolError,
    ThingsBoardRateLimitedError,
    ThingsBoardTimeoutError,
    ThingsBoardUnavailableError,
)
from petit.thingsboard.errors import ThingsBoardConflictError, ThingsBoardError
from petit.thingsboard.transport import Transport, _translate_in_thread

pytestmark = pytest.mark.unit


def _raise(exc: BaseException) -> object:
    raise exc


def _api_exception(status: int, body: bytes) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.body = body
    return exc


def test_api_exceptions_become_typed_errors() -> None:
    with pytest.raises(ThingsBoardNotFoundError):
        _translate_in_thread(lambda: _raise(_api_exception(404, b'{"message":"nope"}')), False)
    with pytest.raises(ThingsBoardTimeoutError):
        _translate_in_thread(lambda: _raise(_api_exception(504, b"")), True)


def test_refused_connection_was_never_sent() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    with pytest.raises(ThingsBoardUnavailableError) as caught:
        _translate_in_thread(lambda: _raise(urllib3.exceptions.MaxRetryError(None, "/x", refused)), False)  # type: ignore[arg-type]
    assert not caught.value.request_sent


def test_read_timeout_may_have_been_processed() -> None:
    timeout = urllib3.exceptions.ReadTimeoutError(None, "/x", "read timed out")  # type: ignore[arg-type]
    with pytest.raises(ThingsBoardUnavailableError) as caught:
        _translate_in_thread(lambda: _raise(timeout), False)
    assert caught.value.request_sent


def test_deserialiser_errors_returned_as_values_are_raised() -> None:
    # tb-rest-client returns the ValueError its model raised instead of raising it.
    with pytest.raises(ThingsBoardProtocolError):
        _translate_in_thread(lambda: ValueError("Invalid value for `title`"), False)
    with pytest.raises(ThingsBoardProtocolError):
        _translate_in_thread(lambda: _raise(ValueError("Invalid value")), False)


@pytest.fixture
def transport() -> Transport:
    return Transport(ThingsBoardConfig(url="http://127.0.0.1:9", username="u", password="p", max_attempts=3))


@pytest.mark.parametrize(
    ("error", "idempotent", "attempt", "expected"),
    [
        (ThingsBoardUnavailableError("503"), True, 1, True),
        (ThingsBoardUnavailableError("503"), True, 3, False),
        (ThingsBoardUnavailableError("reset"), False, 1, False),
        (ThingsBoardUnavailableError("refused", request_sent=False), False, 1, True),
        (ThingsBoardRateLimitedError("429"), False, 1, True),
        (ThingsBoardConflictError("dup"), True, 1, False),
        (ThingsBoardTimeoutError("device"), True, 1, False),
    ],
)
def test_retry_policy(
    transport: Transport, error: ThingsBoardError, idempotent: bool, attempt: int, expected: bool
) -> None:
    assert transport._retryable(error, idempotent=idempotent, attempt=attempt) is expected


def test_backoff_honours_retry_after_and_is_bounded(transport: Transport) -> None:
    assert transport._backoff(ThingsBoardRateLimitedError("429", retry_after_s=1.5), 1) == 1.5
    delays = [transport._backoff(ThingsBoardUnavailableError("x"), 3) for _ in range(50)]
    assert all(0 <= d <= 0.4 for d in delays)
    assert len(set(delays)) > 1
