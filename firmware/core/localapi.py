"""The device-local HTTP API (seed 001 + /info, /scan, /reset), as a pure request -> response function.

Described by porto_contract/device/local-api.openapi.json. Every bad input gets a 4xx JSON error
``{"error": code, "message": text, "field": name?}`` and leaves the device in setup mode.
"""

import json

from firmware.core.machine import Device, equal_secret

try:  # noqa: SIM105 - MicroPython has no contextlib
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython only
    pass

MAX_BODY = 2048
MAX_DEPTH = 8

# (field, required, kind, min, max); lengths are UTF-8 bytes for the SSID (802.11 counts octets),
# characters for the rest.
# A list, not a dict: MicroPython dicts do not keep insertion order, and errors should name fields
# in the same order on every platform.
_FIELDS = (
    ("ssid", True, "str", 1, 32),
    ("password", True, "str", 0, 63),
    ("pairKey", False, "str", 1, 128),
    ("ownerKey", True, "str", 8, 128),
    ("accessToken", False, "str", 1, 256),
    ("mqttHost", False, "str", 1, 253),
    ("mqttPort", False, "int", 1, 65535),
    ("claimSecret", False, "str", 1, 128),
    ("claimDurationMs", False, "int", 1000, 604800000),
    ("provisionDeviceKey", False, "str", 1, 128),
    ("provisionDeviceSecret", False, "str", 1, 128),
    ("deviceName", False, "str", 1, 128),
    ("gatewayUrl", False, "str", 8, 253),
    ("gatewayToken", False, "str", 1, 256),
)
_NAMES = [rule[0] for rule in _FIELDS]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> "dict[str, Any]":
        out = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


def check_framing(method: str, headers: "dict[str, str]") -> None:
    """Before the body is read (lower-case header names): only Content-Length bodies, required on POST."""
    if "transfer-encoding" in headers:
        raise ApiError(411, "length_required", "send a Content-Length body, not chunked")
    if method == "POST" and "content-length" not in headers:
        raise ApiError(411, "length_required", "Content-Length is required")


def check_content_type(headers: "dict[str, str]", body: bytes) -> None:
    if body and not headers.get("content-type", "application/json").startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send application/json")


def validate_config(body: bytes, defaults: "dict[str, Any] | None" = None) -> "dict[str, Any]":
    """Parse and check a POST /config/data body, completed by ``defaults`` (what the factory flashed) where
    it leaves a field out; raise ApiError on anything wrong."""
    if len(body) > MAX_BODY:
        raise ApiError(413, "body_too_large", "body exceeds " + str(MAX_BODY) + " bytes")
    _check_nesting(body)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeError):
        raise ApiError(400, "invalid_json", "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    flashed = defaults or {}
    for name in flashed:
        if data.get(name) is None:
            data[name] = flashed[name]
    return check_config(data)


def check_config(data: "dict[str, Any]") -> "dict[str, Any]":
    """The field rules of a configuration, whichever transport brought it (JSON here, protobuf in
    wifiprov); raise ApiError naming the first bad field."""
    for name in data:
        if name not in _NAMES:
            raise ApiError(422, "unknown_field", "unknown field " + repr(name), name)
    for rule in _FIELDS:
        name = rule[0]
        if data.get(name) is None:
            if rule[1]:
                raise ApiError(422, "missing_field", name + " is required", name)
            data.pop(name, None)
        else:
            _check(name, data[name], rule)
    _check_combinations(data)
    return data


def _check_nesting(body: bytes) -> None:
    # json.loads recurses: a 2 KiB body of "[" overflows the stack (RecursionError on CPython, a crash of
    # the HTTP task on MicroPython), so count depth by hand first. The config is one flat object.
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                raise ApiError(400, "invalid_json", "JSON nested deeper than " + str(MAX_DEPTH) + " levels")
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1


def _check_combinations(data: "dict[str, Any]") -> None:
    password = data["password"]
    # WPA2-PSK passphrases are 8..63 printable ASCII characters (IEEE 802.11i); empty means open network.
    if password and (len(password) < 8 or not _printable_ascii(password)):
        raise ApiError(
            422, "out_of_range", "password must be empty or 8..63 printable ASCII characters", "password"
        )
    if bool(data.get("gatewayUrl")) != bool(data.get("gatewayToken")):
        raise ApiError(422, "missing_field", "gatewayUrl and gatewayToken go together", "gatewayToken")
    scheme = (data.get("gatewayUrl") or "http://").split("://")[0]
    if scheme not in ("http", "https"):
        raise ApiError(422, "out_of_range", "gatewayUrl must be an http(s) URL", "gatewayUrl")
    if not data.get("accessToken") and not data.get("provisionDeviceKey") and not data.get("gatewayToken"):
        raise ApiError(422, "missing_field", "accessToken is required", "accessToken")


def _check(name: str, value: "Any", rule: "tuple[str, bool, str, int, int]") -> None:
    _, _, kind, low, high = rule
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError(422, "wrong_type", name + " must be an integer", name)
        size = value
    else:
        if not isinstance(value, str):
            raise ApiError(422, "wrong_type", name + " must be a string", name)
        size = len(value.encode()) if name == "ssid" else len(value)
    if size < low or size > high:
        raise ApiError(422, "out_of_range", f"{name} must be within {low}..{high}", name)


def _printable_ascii(text: str) -> bool:
    return all(32 <= ord(ch) <= 126 for ch in text)


def handle(
    device: Device, method: str, path: str, headers: "dict[str, str]", body: bytes
) -> "tuple[int, Any]":
    """Route one request. ``headers`` has lower-case names. Returns (HTTP status, JSON-able body)."""
    try:
        return _route(device, method, path.split("?", 1)[0], headers, body)
    except ApiError as error:
        return error.status, error.body()


def _route(
    device: Device, method: str, path: str, headers: "dict[str, str]", body: bytes
) -> "tuple[int, Any]":
    routes = {
        "/config/data": "POST",
        "/config/current-status": "GET",
        "/info": "GET",
        "/scan": "GET",
        "/reset": "POST",
    }
    if path not in routes:
        raise ApiError(404, "not_found", "no such endpoint")
    if method != routes[path]:
        raise ApiError(405, "method_not_allowed", path + " accepts " + routes[path] + " only")
    if path == "/config/current-status":
        return 200, device.status()
    if path == "/info":
        return 200, device.info()
    if path == "/scan":
        return 200, device.wifi.scan()
    if path == "/reset":
        if device.paired():
            given = headers.get("x-owner-key", "")
            if not given:
                raise ApiError(401, "owner_key_required", "X-Owner-Key header is required once paired")
            if not equal_secret(given, device.owner_key()):
                raise ApiError(403, "owner_key_mismatch", "X-Owner-Key does not match")
        device.request_reset()
        return 202, {"reset": True}
    config = validate_config(body, device.factory)
    if device.paired():
        raise ApiError(409, "already_configured", "device is paired; POST /reset first")
    if device.busy():
        raise ApiError(409, "busy", "a configuration attempt is in progress")
    device.submit_config(config)
    return 202, device.status()
