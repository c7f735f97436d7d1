"""A minimal HTTP/1.1 server connection handler over asyncio streams: the host simulator's local API.

The MicroPython firmware serves the same routes through microdot; this one exists because a simulated
fleet runs a thousand devices in one process, one listening port each, which wants nothing per device
but a stream handler. One request per connection, ``Content-Length`` bodies only, JSON responses, the
same transport errors as the firmware's. It takes the stream objects, so it imports no network module.
"""

import json

from firmware.core import localapi

try:  # noqa: SIM105 - MicroPython has no contextlib
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython only
    pass

MAX_HEADERS = 32
MAX_LINE = 1024

REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def render(status: int, body: "Any") -> bytes:
    payload = json.dumps(body).encode()
    head = "HTTP/1.1 " + str(status) + " " + REASONS.get(status, "") + "\r\n"
    head += "Content-Type: application/json\r\nContent-Length: " + str(len(payload))
    head += "\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
    return head.encode() + payload


async def read_request(reader: "Any") -> "tuple[str, str, dict[str, str], bytes]":
    """Read one request; raise localapi.ApiError for anything malformed or too large."""
    line = await reader.readline()
    if not line:
        raise EOFError
    if len(line) > MAX_LINE:
        raise localapi.ApiError(400, "bad_request", "request line too long")
    parts = line.decode().strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise localapi.ApiError(400, "bad_request", "malformed request line")
    method, path = parts[0], parts[1]
    headers = {}  # type: dict[str, str]
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError
        if line in (b"\r\n", b"\n"):
            break
        if len(line) > MAX_LINE or len(headers) >= MAX_HEADERS:
            raise localapi.ApiError(431, "headers_too_large", "too many or too long headers")
        text = line.decode()
        if ":" not in text:
            raise localapi.ApiError(400, "bad_request", "malformed header")
        name, value = text.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    localapi.check_framing(method, headers)
    body = await _read_body(reader, headers)
    localapi.check_content_type(headers, body)
    return method, path, headers, body


async def _read_body(reader: "Any", headers: "dict[str, str]") -> bytes:
    if "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise localapi.ApiError(400, "bad_request", "bad Content-Length") from None
        if length < 0:
            raise localapi.ApiError(400, "bad_request", "bad Content-Length")
        if length > localapi.MAX_BODY:
            raise localapi.ApiError(413, "body_too_large", f"body exceeds {localapi.MAX_BODY} bytes")
        return bytes(await reader.readexactly(length)) if length else b""
    return b""


async def serve(device: "Any", reader: "Any", writer: "Any") -> None:
    """Answer one connection with one response, then close it."""
    try:
        try:
            method, path, headers, body = await read_request(reader)
            status, answer = localapi.handle(device, method, path, headers, body)
        except localapi.ApiError as error:
            status, answer = error.status, error.body()
        writer.write(render(status, answer))
        await writer.drain()
    except (EOFError, OSError, ValueError):
        pass  # the client went away or sent garbage bytes; nothing to answer
    finally:
        try:
            writer.close()
            await writer.wait_closed()
        except (OSError, AttributeError):
            pass
