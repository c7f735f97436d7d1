"""A minimal HTTP/1.1 server connection handler over asyncio streams: the host simulator's local API.

The MicroPython firmware serves the same routes through microdot; this one exists because a simulated
fleet runs a thousand devices in one process, one listening port each, which wants nothing per device
but a stream handler. One request per connection, ``Content-Length`` bodies only, JSON responses, the
same transport errors as the firmware's. It takes the stream objects, so it imports no network module.
"""

import json

from firmware.core import localapi
from firmware.core import protocomm as pc

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


def render_raw(status: int, body: bytes, extra: str = "") -> bytes:
    """Protocomm answers: raw protobuf or ciphertext, never JSON (ESP-IDF protocomm_httpd)."""
    head = "HTTP/1.1 " + str(status) + " " + REASONS.get(status, "") + "\r\n"
    head += "Content-Type: application/octet-stream\r\nContent-Length: " + str(len(body)) + "\r\n" + extra
    head += "Connection: close\r\nCache-Control: no-store\r\n\r\n"
    return head.encode() + body


def session_cookie(headers: "dict[str, str]") -> int:
    """The ``session=<uint32>`` cookie esp_prov echoes back; 0 when absent or not a number."""
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "session":
            try:
                number = int(value)
            except ValueError:
                return 0
            return number if 0 < number <= 0xFFFFFFFF else 0
    return 0


def protocomm_answer(comm: "Any", path: str, headers: "dict[str, str]", body: bytes) -> bytes:
    """One protocomm request over HTTP: 200 with the raw answer (Set-Cookie when a session starts), or
    500 as ESP-IDF's httpd answers a failed request, with the protocomm status in a header for diagnosis."""
    try:
        answer, announce = comm.handle(path[1:], body, session_cookie(headers))
    except pc.ProtocommError as error:
        return render_raw(500, b"", "X-Protocomm-Status: " + str(error.status) + "\r\n")
    extra = "Set-Cookie: session=" + str(announce) + "\r\n" if announce else ""
    return render_raw(200, answer, extra)


def is_protocomm(comm: "Any", method: str, path: str) -> bool:
    if comm is None or method != "POST":
        return False
    name = path.split("?", 1)[0][1:]
    return name in (pc.VERSION_ENDPOINT, pc.SESSION_ENDPOINT) or name in comm.endpoints


def render(status: int, body: "Any") -> bytes:
    payload = json.dumps(body).encode()
    head = "HTTP/1.1 " + str(status) + " " + REASONS.get(status, "") + "\r\n"
    head += "Content-Type: application/json\r\nContent-Length: " + str(len(payload))
    head += "\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
    return head.encode() + payload


async def read_request(reader: "Any", comm: "Any" = None) -> "tuple[str, str, dict[str, str], bytes]":
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
    # esp_prov labels its protobuf bodies application/x-www-form-urlencoded; ESP-IDF ignores the type.
    if not is_protocomm(comm, method, path):
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


async def serve(device: "Any", reader: "Any", writer: "Any", comm: "Any" = None) -> None:
    """Answer one connection with one response, then close it. ``comm``: the ESP-IDF provisioning
    endpoints (protocomm.Protocomm), served beside the local API when the device has them."""
    try:
        try:
            method, path, headers, body = await read_request(reader, comm)
            if is_protocomm(comm, method, path):
                data = protocomm_answer(comm, path.split("?", 1)[0], headers, body)
            else:
                status, answer = localapi.handle(device, method, path, headers, body)
                data = render(status, answer)
        except localapi.ApiError as error:
            data = render(error.status, error.body())
        writer.write(data)
        await writer.drain()
    except (EOFError, OSError, ValueError):
        pass  # the client went away or sent garbage bytes; nothing to answer
    finally:
        try:
            writer.close()
            await writer.wait_closed()
        except (OSError, AttributeError):
            pass
