"""The one place where failures become HTTP responses: RFC 9457 ``application/problem+json``.

Services raise :class:`PetitError` subclasses (each feature keeps its own in ``<feature>/errors.py``) and
know nothing about HTTP. Framework failures (validation, routing, body limits, malformed JSON) are mapped here
too, so a client only ever sees one error shape, with a stable machine-readable ``code``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from petit.thingsboard.errors import (
    ThingsBoardAuthError,
    ThingsBoardError,
    ThingsBoardRateLimitedError,
    ThingsBoardTimeoutError,
    ThingsBoardUnavailableError,
)

if TYPE_CHECKING:
    from litestar.types import ExceptionHandlersMap

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: ``type`` of every problem is this prefix plus the code: stable, and not tied to a host name we do not own.
PROBLEM_TYPE_PREFIX = "urn:petit:problem:"


class PetitError(Exception):
    """A failure the API reports on purpose. Subclasses fix ``code``, ``status`` and ``title``."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal server error"
    #: The unit of work is committed even though the request fails: the refusal itself changed state that must
    #: stand (for example revoking a token family after a replayed refresh token).
    keeps_changes: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})


class FieldError(BaseModel):
    field: str
    message: str


class ValidationFailedError(PetitError):
    code = "validation_failed"
    status = 422
    title = "The request body or parameters are invalid"

    def __init__(self, detail: str | None = None, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors)


class MalformedJsonError(PetitError):
    code = "malformed_json"
    status = 400
    title = "The body is not valid JSON"


class JsonTooDeepError(PetitError):
    code = "json_too_deep"
    status = 400
    title = "The JSON document is nested too deeply"


class JsonTooLargeError(PetitError):
    code = "json_too_many_elements"
    status = 413
    title = "The JSON document has too many values"


class PayloadTooLargeError(PetitError):
    code = "payload_too_large"
    status = 413
    title = "Request body too large"


class UnsupportedMediaTypeError(PetitError):
    code = "unsupported_media_type"
    status = 415
    title = "Request bodies must be application/json"


#: Seconds a client should wait before retrying when the device platform is down; short, since it usually
#: comes back by itself and readiness tells operators the rest.
THINGSBOARD_RETRY_AFTER_S = 5


class PlatformUnavailableError(PetitError):
    code = "thingsboard_unavailable"
    status = 503
    title = "The device platform is unavailable; retry later"

    def __init__(
        self, detail: str | None = None, *, retry_after_s: float = THINGSBOARD_RETRY_AFTER_S
    ) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))})


#: Redis usually comes back within seconds (a restart, a failover); clients should not hammer it meanwhile.
REDIS_RETRY_AFTER_S = 5


class CacheUnavailableError(PetitError):
    """Redis (revocation markers, throttle counters) cannot answer: petit refuses rather than skip checks."""

    code = "redis_unavailable"
    status = 503
    title = "A petit dependency (Redis) is unavailable; retry later"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(REDIS_RETRY_AFTER_S)})


class DeviceUnresponsiveError(PetitError):
    code = "device_unresponsive"
    status = 504
    title = "The device did not answer in time; it may be offline"


class PlatformFailedError(PetitError):
    code = "thingsboard_failed"
    status = 502
    title = "The device platform refused or garbled the request"


def problem_from_thingsboard(exc: ThingsBoardError) -> PetitError:
    """The problem a ThingsBoard failure becomes when the feature did not handle it itself.

    Not-found is deliberately absent: only the feature knows which resource is missing, so it raises its own
    404; one that escapes here is an unexpected upstream answer (502).
    """
    if isinstance(exc, ThingsBoardRateLimitedError):
        return PlatformUnavailableError(
            "The device platform is throttling requests",
            retry_after_s=exc.retry_after_s or THINGSBOARD_RETRY_AFTER_S,
        )
    if isinstance(exc, ThingsBoardAuthError):
        # petit's own ThingsBoard credentials (or the scope it gave a token) are wrong: no client can fix
        # that, an operator must, so it is shouted in the log and the client just sees an outage.
        log.critical("thingsboard.auth_failed status=%s message=%s", exc.status, exc.message)
        return PlatformUnavailableError()
    if isinstance(exc, ThingsBoardUnavailableError):
        log.warning("thingsboard.unavailable status=%s message=%s", exc.status, exc.message)
        return PlatformUnavailableError()
    if isinstance(exc, ThingsBoardTimeoutError):
        return DeviceUnresponsiveError()
    log.error("thingsboard.unexpected_failure kind=%s status=%s", type(exc).__name__, exc.status)
    return PlatformFailedError()


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, as every petit error is rendered."""

    type: str = Field(description="Stable URI identifying the problem type: urn:petit:problem:<code>")
    title: str
    status: int
    code: str = Field(description="Stable machine-readable error code")
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="Per-field failures (validation only)")


def problem_type(code: str) -> str:
    return f"{PROBLEM_TYPE_PREFIX}{code}"


def problem_response(
    request: Request[Any, Any, Any],
    *,
    code: str,
    status: int,
    title: str,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[FieldError] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "code": code,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [e.model_dump() for e in errors]
    return Response(
        content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {})
    )


_BODY_ERRORS: tuple[type[PetitError], ...] = (
    MalformedJsonError,
    JsonTooDeepError,
    PayloadTooLargeError,
    JsonTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)


def problem_responses(*errors: type[PetitError], body: bool = True) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` for a handler, listing the problems it can answer with.

    ``body``: the handler reads a JSON body, so it can also fail the ways any body can.
    """
    by_status: dict[int, list[type[PetitError]]] = {}
    listed: list[type[PetitError]] = [*errors, *(_BODY_ERRORS if body else ())]
    for error in listed:
        by_status.setdefault(error.status, []).append(error)
    return {
        status: ResponseSpec(
            data_container=ProblemDetail,
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
            description="; ".join(f"{e.code}: {e.title}" for e in group),
        )
        for status, group in sorted(by_status.items())
    }


#: For a 204 handler that returns ``Response[None]`` (to attach a background task): Litestar would otherwise
#: document a JSON ``null`` body.
NO_CONTENT_RESPONSE: dict[int, ResponseSpec] = {
    204: ResponseSpec(data_container=None, description="Request fulfilled, nothing follows")
}


def _on_petit_error(request: Request[Any, Any, Any], exc: PetitError) -> Response[dict[str, Any]]:
    return problem_response(
        request,
        code=exc.code,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        errors=exc.errors if isinstance(exc, ValidationFailedError) else None,
    )


def _on_thingsboard_error(request: Request[Any, Any, Any], exc: ThingsBoardError) -> Response[dict[str, Any]]:
    return _on_petit_error(request, problem_from_thingsboard(exc))


def _field_errors(extra: object) -> list[FieldError]:
    if not isinstance(extra, list):
        return []
    out: list[FieldError] = []
    for item in extra:
        if isinstance(item, Mapping):
            key = item.get("key") or item.get("source") or ""
            out.append(FieldError(field=str(key), message=str(item.get("message", ""))))
    return out


# Litestar raises HTTPExceptions for routing, body size and parsing failures; each gets a stable code here.
_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is malformed"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not_found", "Resource not found"),
    405: ("method_not_allowed", "Method not allowed on this resource"),
    413: (PayloadTooLargeError.code, PayloadTooLargeError.title),
    415: ("unsupported_media_type", "Unsupported content type"),
    429: ("too_many_requests", "Too many requests"),
    503: ("service_unavailable", "Service unavailable"),
}


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException):
        return problem_response(
            request,
            code=ValidationFailedError.code,
            status=ValidationFailedError.status,
            title=ValidationFailedError.title,
            errors=_field_errors(exc.extra),
        )
    status = exc.status_code
    if isinstance(exc, ClientException) and status == 400 and _caused_by_decoding(exc):
        return _on_petit_error(request, MalformedJsonError())
    if status >= 500:
        # An HTTPException with a 5xx status is our bug, not the client's: keep details out of the response.
        log.error("http.internal_error", exc_info=exc)
        return problem_response(request, code="internal_error", status=500, title="Internal server error")
    code, title = _HTTP_CODES.get(status, ("http_error", "Request failed"))
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc, NotFoundException | MethodNotAllowedException) else None
    return problem_response(request, code=code, status=status, title=title, detail=detail, headers=headers)


def _caused_by_decoding(exc: BaseException) -> bool:
    from litestar.exceptions import SerializationException  # noqa: PLC0415 - only needed on this rare path

    return isinstance(exc.__cause__, SerializationException)


def _on_redis_error(request: Request[Any, Any, Any], exc: RedisError) -> Response[dict[str, Any]]:
    # Collaborators that talk to Redis directly (ThingsBoard token store, the realtime hub) let its errors
    # through; an unreachable Redis is an outage to retry, not a bug.
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        log.warning("redis.unavailable kind=%s", type(exc).__name__)
        return _on_petit_error(request, CacheUnavailableError())
    return _on_unexpected(request, exc)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error("http.unhandled_exception path=%s", request.url.path, exc_info=exc)
    return problem_response(request, code="internal_error", status=500, title="Internal server error")


def exception_handlers() -> ExceptionHandlersMap:
    return {
        PetitError: _on_petit_error,
        ThingsBoardError: _on_thingsboard_error,
        HTTPException: _on_http_exception,
        RedisError: _on_redis_error,
        Exception: _on_unexpected,
    }
