"""A running simulated device's local API, response by response, against local-api.openapi.json."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.firmware.conftest import config, eventually, settled
from tests.unit.firmware.test_firmware_local_api import check

if TYPE_CHECKING:
    from firmware.sim.fleet import SimDevice
    from tests.integration.firmware.conftest import Rest

pytestmark = pytest.mark.integration


def call(device: SimDevice, method: str, path: str, **kwargs: object) -> object:
    response = httpx.request(method, device.local_url + path, timeout=5, **kwargs)  # type: ignore[arg-type]
    return check(method, path, response)


def test_every_simulator_answer_matches_the_contract(device: SimDevice, rest: Rest) -> None:
    assert call(device, "GET", "/config/current-status") == {
        "statusCode": 0,
        "title": "",
        "description": "waiting for configuration",
    }
    call(device, "GET", "/info")
    call(device, "GET", "/scan")
    call(device, "POST", "/config/data", json={"ssid": ""})
    call(device, "POST", "/config/data", content=b"{", headers={"content-type": "application/json"})
    call(device, "POST", "/config/data", json=config("t", password="wrong-password"))
    assert settled(device)["statusCode"] == 5
    call(device, "GET", "/config/current-status")
    _, _, token = rest.create_device()
    body = config(token)
    call(device, "POST", "/config/data", json=body)
    eventually(lambda: settled(device)["statusCode"] == 4)
    call(device, "GET", "/config/current-status")
    call(device, "POST", "/config/data", json=body)  # 409 already configured
    call(device, "POST", "/reset")  # 401
    call(device, "POST", "/reset", headers={"X-Owner-Key": "not-the-owner"})  # 403
    assert call(device, "POST", "/reset", headers={"X-Owner-Key": body["ownerKey"]}) == {"reset": True}
