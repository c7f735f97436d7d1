"""The device-local API over real HTTP (firmware.core.http on asyncio), checked against
porto_contract/device/local-api.openapi.json with jsonschema, including every kind of bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jsonschema
import pytest

from firmware.core import http, localapi, machine
from tests.unit.firmware.fakes import Rig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.unit

SPEC = json.loads(
    (Path(__file__).parents[3] / "porto_contract" / "device" / "local-api.openapi.json").read_text("utf-8")
)

GOOD = {
    "ssid": "home",
    "password": "correct-horse-9",
    "pairKey": "pk-1",
    "ownerKey": "owner-key-1",
    "accessToken": "token-1",
}


def check(method: str, path: str, response: httpx.Response) -> Any:
    """The response's status is documented for the operation and its body matches the schema."""
    operation = SPEC["paths"][path][method.lower()]
    documented = operation["responses"]
    assert str(response.status_code) in documented, f"{response.status_code} undocumented for {method} {path}"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": SPEC["components"]}).validate(body)
    return body


class Server:
    def __init__(self, rig: Rig, url: str) -> None:
        self.rig = rig
        self.url = url
        self.client = httpx.AsyncClient(base_url=url, timeout=5)

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.request(method, path, **kwargs)
        return response.status_code, check(method, path, response)

    async def raw(self, data: bytes) -> bytes:
        host, port = self.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    rig = Rig()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await http.serve(rig.device, reader, writer)

    listener = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    srv = Server(rig, f"http://127.0.0.1:{port}")
    yield srv
    await srv.client.aclose()
    listener.close()
    await listener.wait_closed()


async def test_status_info_and_scan_match_the_contract(server: Server) -> None:
    assert await server.call("GET", "/config/current-status") == (
        200,
        {"statusCode": 0, "title": "", "description": "waiting for configuration"},
    )
    code, info = await server.call("GET", "/info")
    assert (code, info["mac"], info["paired"]) == (200, "02:AA:BB:CC:DD:EE", False)
    code, networks = await server.call("GET", "/scan")
    assert code == 200
    assert networks[0] == {"ssid": "home", "rssi": -50, "sec": 4194308, "ch": 6, "mdr": 144400}


async def test_a_good_config_is_accepted_and_reported_through_every_status(server: Server) -> None:
    server.rig.wifi.outcome = machine.WIFI_CONNECTING
    code, body = await server.call("POST", "/config/data", json=GOOD)
    assert (code, body["statusCode"]) == (202, 1)
    assert (await server.call("POST", "/config/data", json=GOOD))[1]["error"] == "busy"
    server.rig.step()
    server.rig.wifi.outcome = machine.WIFI_GOT_IP
    server.rig.settle()
    assert (await server.call("GET", "/config/current-status"))[1]["statusCode"] == 4
    code, body = await server.call("POST", "/config/data", json=GOOD)
    assert (code, body["error"]) == (409, "already_configured")


async def test_an_open_network_takes_an_empty_password(server: Server) -> None:
    code, _ = await server.call("POST", "/config/data", json={**GOOD, "ssid": "cafe", "password": ""})
    assert code == 202
    assert server.rig.device.status()["statusCode"] == 1


async def test_failure_statuses_match_the_contract(server: Server) -> None:
    server.rig.wifi.outcome = machine.WIFI_WRONG_PASSWORD
    await server.call("POST", "/config/data", json=GOOD)
    server.rig.settle()
    code, body = await server.call("GET", "/config/current-status")
    assert (code, body["statusCode"], body["title"]) == (200, 5, "WIFI_CONNECT_BAD_CREDENTIALS")


BAD_BODIES: list[tuple[str, Any, int, str, str | None]] = [
    ("ssid too long", {**GOOD, "ssid": "x" * 33}, 422, "out_of_range", "ssid"),
    ("ssid empty", {**GOOD, "ssid": ""}, 422, "out_of_range", "ssid"),
    ("ssid 11 chars but 33 bytes", {**GOOD, "ssid": "\u20ac" * 11}, 422, "out_of_range", "ssid"),
    ("ssid wrong type", {**GOOD, "ssid": 12}, 422, "wrong_type", "ssid"),
    ("password 7 chars", {**GOOD, "password": "1234567"}, 422, "out_of_range", "password"),
    ("password 64 chars", {**GOOD, "password": "p" * 64}, 422, "out_of_range", "password"),
    ("password not ASCII", {**GOOD, "password": "pässwört-lang"}, 422, "out_of_range", "password"),
    (
        "password missing",
        {k: v for k, v in GOOD.items() if k != "password"},
        422,
        "missing_field",
        "password",
    ),
    ("password null", {**GOOD, "password": None}, 422, "missing_field", "password"),
    (
        "ownerKey missing",
        {k: v for k, v in GOOD.items() if k != "ownerKey"},
        422,
        "missing_field",
        "ownerKey",
    ),
    ("ownerKey short", {**GOOD, "ownerKey": "short"}, 422, "out_of_range", "ownerKey"),
    ("no token", {k: v for k, v in GOOD.items() if k != "accessToken"}, 422, "missing_field", "accessToken"),
    ("token wrong type", {**GOOD, "accessToken": ["t"]}, 422, "wrong_type", "accessToken"),
    ("port as text", {**GOOD, "mqttPort": "1883"}, 422, "wrong_type", "mqttPort"),
    ("port as bool", {**GOOD, "mqttPort": True}, 422, "wrong_type", "mqttPort"),
    ("port out of range", {**GOOD, "mqttPort": 70000}, 422, "out_of_range", "mqttPort"),
    ("unknown field", {**GOOD, "admin": True}, 422, "unknown_field", "admin"),
    ("gateway url alone", {**GOOD, "gatewayUrl": "http://gw"}, 422, "missing_field", "gatewayToken"),
    (
        "gateway not http",
        {**GOOD, "gatewayUrl": "ftp://gw/x", "gatewayToken": "t"},
        422,
        "out_of_range",
        "gatewayUrl",
    ),
    ("array body", [GOOD], 400, "invalid_json", None),
    ("number body", 42, 400, "invalid_json", None),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "error", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES]
)
async def test_bad_bodies_get_a_clear_4xx_and_setup_continues(
    server: Server, case: str, body: Any, status: int, error: str, field: str | None
) -> None:
    code, answer = await server.call("POST", "/config/data", json=body)
    assert (code, answer["error"], answer.get("field")) == (status, error, field)
    assert server.rig.device.status()["statusCode"] == 0
    assert server.rig.wifi.joined is None
    assert not server.rig.device.busy()


async def test_malformed_and_oversized_requests(server: Server) -> None:
    cases = [
        (b"not json", {"content-type": "application/json"}, 400, "invalid_json"),
        (b"\xff\xfe", {"content-type": "application/json"}, 400, "invalid_json"),
        # json.loads recurses: 2 KiB of "[" used to raise RecursionError out of the handler.
        (b"[" * 2000, {"content-type": "application/json"}, 400, "invalid_json"),
        (
            b'{"ssid": ' + b"[" * 9 + b"]" * 9 + b"}",
            {"content-type": "application/json"},
            400,
            "invalid_json",
        ),
        (json.dumps({**GOOD, "pairKey": "k" * 3000}).encode(), {}, 413, "body_too_large"),
        (json.dumps(GOOD).encode(), {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    ]
    for content, headers, status, error in cases:
        code, answer = await server.call("POST", "/config/data", content=content, headers=headers)
        assert (code, answer["error"]) == (status, error)
    assert server.rig.device.status()["statusCode"] == 0


async def test_wrong_method_and_unknown_path(server: Server) -> None:
    response = await server.client.get("/config/data")
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")
    response = await server.client.get("/admin")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


async def test_raw_protocol_abuse(server: Server) -> None:
    chunked = await server.raw(
        b"POST /config/data HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    assert chunked.startswith(b"HTTP/1.1 411 ")
    no_length = await server.raw(b"POST /config/data HTTP/1.1\r\nHost: x\r\n\r\n")
    assert no_length.startswith(b"HTTP/1.1 411 ")
    huge = await server.raw(b"POST /config/data HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 413 ")
    garbage = await server.raw(b"\x00\x01\x02 nonsense\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    many = b"GET /info HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(40)) + b"\r\n"
    assert (await server.raw(many)).startswith(b"HTTP/1.1 431 ")
    assert (await server.raw(b"")) == b""
    assert server.rig.device.status()["statusCode"] == 0


async def test_reset_is_open_before_pairing_and_owner_only_after(server: Server) -> None:
    assert await server.call("POST", "/reset") == (202, {"reset": True})
    server.rig.step()
    await server.call("POST", "/config/data", json=GOOD)
    server.rig.settle()
    code, body = await server.call("POST", "/reset")
    assert (code, body["error"]) == (401, "owner_key_required")
    code, body = await server.call("POST", "/reset", headers={"X-Owner-Key": "owner-key-2"})
    assert (code, body["error"]) == (403, "owner_key_mismatch")
    assert server.rig.device.paired()
    assert await server.call("POST", "/reset", headers={"X-Owner-Key": "owner-key-1"}) == (
        202,
        {"reset": True},
    )
    server.rig.step()
    assert not server.rig.device.paired()


def test_the_contract_example_is_a_valid_config() -> None:
    example = json.loads(
        (Path(__file__).parents[3] / "porto_contract/device/examples/config-data.json").read_text("utf-8")
    )
    schema = {**SPEC["components"]["schemas"]["ConfigData"], "components": SPEC["components"]}
    jsonschema.Draft202012Validator(schema).validate(example)
    assert localapi.validate_config(json.dumps(example).encode()) == example
