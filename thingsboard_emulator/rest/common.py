"""Shared REST plumbing: TB's error bodies, authentication, body parsing, paging."""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from thingsboard_emulator.core.errors import RawError, TbError, bad_request, forbidden, unauthorized

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from litestar.types import ExceptionHandlersMap

    from thingsboard_emulator.contracts import Principal
    from thingsboard_emulator.core.service import Core

log = logging.getLogger(__name__)

JSON = "application/json"


def json_response(body: Any, status: int = 200) -> Response[bytes]:
    return Response(content=msgspec.json.encode(body), status_code=status, media_type=JSON)


def empty(status: int = 200) -> Response[bytes]:
    return Response(content=b"", status_code=status, media_type=JSON)


def text(body: str, status: int = 200) -> Response[bytes]:
    return Response(content=body.encode(), status_code=status, media_type="text/plain")


def tb_error_response(exc: TbError) -> Response[bytes]:
    return json_response(exc.body(), exc.status)


def _handle_tb(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, TbError)
    return tb_error_response(exc)


def _handle_raw(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, RawError)
    return Response(content=exc.raw, status_code=exc.status, media_type=exc.media_type)


def _handle_http(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 405:
        message = f"Request method '{request.method}' is not supported"
        return tb_error_response(TbError(405, message, 31))
    if status == 404:
        return tb_error_response(TbError(404, "Not Found", 32))
    if status == 413:
        return tb_error_response(TbError(413, "Payload too large", 31))
    code = {400: 31, 401: 10, 403: 20}.get(status, 2)
    return tb_error_response(TbError(status, str(exc.detail), code))


def _handle_other(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("unhandled error", exc_info=exc)
    return tb_error_response(TbError(500, "Internal server error", 2))


def exception_handlers() -> ExceptionHandlersMap:
    handlers: ExceptionHandlersMap = {
        TbError: _handle_tb,
        RawError: _handle_raw,
        HTTPException: _handle_http,
        Exception: _handle_other,
    }
    return handlers


def principal(core: Core, request: Request[Any, Any, Any]) -> Principal:
    """The caller of a protected endpoint (``X-Authorization`` or ``Authorization``: ``Bearer <JWT>``).

    ``X-Authorization: ApiKey <value>`` authenticates with an API key (TB 4.3 and 4.4).
    """
    header = request.headers.get("x-authorization") or request.headers.get("authorization")
    if not header:
        raise unauthorized("Authentication failed")
    scheme, _, token = header.strip().partition(" ")
    if scheme == "ApiKey":
        return core.api_keys.authenticate(token.strip())
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Authentication failed")
    return core.principal_from_token(token.strip())


def require(p: Principal, *authorities: str) -> None:
    if p.authority not in authorities:
        raise forbidden()


async def json_body(request: Request[Any, Any, Any], *, required: bool = True) -> Any:
    """The body as JSON whatever the Content-Type (tb-rest-client posts JSON as text/plain)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise bad_request("Required request body is missing")
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request("Invalid request body") from exc


async def json_object(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("Invalid request body")
    return body


def check_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise bad_request(f"Invalid UUID string: {value}") from exc


def query_bool(request: Request[Any, Any, Any], name: str, *, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise bad_request(
        f"Failed to convert value of type 'java.lang.String' to required type 'boolean'; {value}"
    )


def query_int(request: Request[Any, Any, Any], name: str, default: int | None = None) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(
            f"Failed to convert value of type 'java.lang.String' to required type 'long'; {value}"
        ) from exc


def required_int(request: Request[Any, Any, Any], name: str) -> int:
    value = query_int(request, name)
    if value is None:
        raise bad_request(f"Required request parameter '{name}' for method parameter type int is not present")
    return value


def keys_param(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [k.strip() for k in value.split(",") if k.strip()]


def page(
    request: Request[Any, Any, Any],
    items: Iterable[Any],
    *,
    text_of: Callable[[Any], Iterable[str | None]],
    sort_keys: dict[str, Callable[[Any], Any]],
    render: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """TB's ``PageData``: ``pageSize``/``page`` required, ``textSearch`` (contains, any case), sorting."""
    page_size = required_int(request, "pageSize")
    page_no = required_int(request, "page")
    if page_size < 1:
        raise bad_request("Page size must be greater than zero!")
    if page_no < 0:
        raise bad_request("Page must be positive integer!")
    rows = list(items)
    search = request.query_params.get("textSearch")
    if search:
        needle = search.lower()
        rows = [r for r in rows if any(t and needle in t.lower() for t in text_of(r))]
    sort_property = request.query_params.get("sortProperty")
    sort_order = (request.query_params.get("sortOrder") or "ASC").upper()
    if sort_order not in ("ASC", "DESC"):
        raise bad_request(
            f"Unsupported sort order '{request.query_params.get('sortOrder')}'! "
            "Only 'ASC' or 'DESC' types are allowed."
        )
    if sort_property:
        key = sort_keys.get(sort_property)
        if key is None:
            raise bad_request("Invalid sort property")
        # Nulls last; the 0 only stands in so two nulls compare equal.
        rows.sort(
            key=lambda r: (key(r) is None, 0 if key(r) is None else key(r)), reverse=sort_order == "DESC"
        )
    total = len(rows)
    start = page_no * page_size
    chunk = rows[start : start + page_size]
    total_pages = (total + page_size - 1) // page_size
    return {
        "data": [render(r) for r in chunk],
        "totalPages": total_pages,
        "totalElements": total,
        "hasNext": start + page_size < total,
    }
