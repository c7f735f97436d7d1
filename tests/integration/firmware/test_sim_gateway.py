"""Seed 004's HTTP gateway, device side: a simulated device claims its one-time token and ingests
telemetry over HTTP. A stub speaks the seed's documented bodies (petit's own is petit/gateway/), so the
device's side is tested on its own, faults included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.integration.firmware.conftest import SSID, WIFI_PASSWORD, eventually, settled

if TYPE_CHECKING:
    from firmware.sim.fleet import SimDevice
    from tests.integration.firmware.conftest import StubGateway

pytestmark = pytest.mark.integration


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
