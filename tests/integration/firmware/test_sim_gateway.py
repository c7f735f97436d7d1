"""Seed 004's HTTP gateway, device side: a simulated device claims its one-time token and ingests
telemetry over HTTP. petit's gateway is not built yet, so a stub speaks the seed's documented bodies."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.integration.firmware.conftest import SSID, WIFI_PASSWORD, eventually, settled

if TYPE_CHECKING:
    from collections.abc import Iterator

    from firmware.sim.fleet import SimDevice

pytestmark = pytest.mark.integration


class StubGateway(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.claims: list[dict[str, Any]] = []
        self.ingested: list[tuple[str, dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: StubGateway

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/gateway/devices/claim":
            if body.get("token") != "one-time-token":
                self._answer(400, {"detail": "invalid token"})
                return
            self.server.claims.append(body)
            ingest = self.server.url + "/gateway/device-data/ingest"
            self._answer(
                200, {"device_id": 1, "api_key": "api-key-1", "ingest_url": ingest, "token_expires_at": None}
            )
        elif self.path == "/gateway/device-data/ingest":
            self.server.ingested.append((self.headers.get("Authorization", ""), body))
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {})

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def gateway() -> Iterator[StubGateway]:
    server = StubGateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def body(gateway: StubGateway, token: str) -> dict[str, Any]:
    return {
        "ssid": SSID,
        "password": WIFI_PASSWORD,
        "ownerKey": "owner-key-gw",
        "gatewayUrl": gateway.url,
        "gatewayToken": token,
    }


def test_claim_then_ingest_over_http(device: SimDevice, gateway: StubGateway) -> None:
    assert (
        httpx.post(
            device.local_url + "/config/data", json=body(gateway, "one-time-token"), timeout=5
        ).status_code
        == 202
    )
    assert settled(device)["statusCode"] == 4
    assert gateway.claims[0]["device_metadata"]["mac"] == device.identity["mac"]
    eventually(lambda: len(gateway.ingested) >= 2)
    authorization, values = gateway.ingested[0]
    assert authorization == "Bearer api-key-1"
    assert {"uptime", "temperature", "humidity"} <= set(values)


def test_a_refused_claim_is_status_6_server_error(device: SimDevice, gateway: StubGateway) -> None:
    httpx.post(device.local_url + "/config/data", json=body(gateway, "wrong"), timeout=5)
    final = settled(device)
    assert (final["statusCode"], final["title"], final["description"]) == (
        6,
        "SERVER_ERROR",
        "gateway claim answered HTTP 400",
    )
