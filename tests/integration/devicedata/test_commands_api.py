"""SendDeviceCommand and the device settings routes against the emulator, with a real MQTT device."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.devicedata.conftest import Kit

pytestmark = pytest.mark.integration


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


@pytest.mark.parametrize("params", [{"name": "blink", "times": 3}, [1, "two"], "on", 7, None])
async def test_two_way_call_returns_the_device_reply(kit: Kit, params: Any) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    mqtt_device = await kit.connect(device)
    response = await kit.client.post(
        f"/devices/{device.id}/commands",
        json={"function": "setLed", "params": params, "mode": "twoway", "timeoutMs": 3000},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    expected_params = params if params is not None else {}
    assert response.json() == {
        "deviceId": str(device.id),
        "function": "setLed",
        "mode": "twoway",
        "response": {"called": "setLed", "with": expected_params, "ok": True},
    }
    assert mqtt_device.requests == [{"method": "setLed", "params": expected_params}]


async def test_one_way_call_is_accepted_and_reaches_the_device(kit: Kit) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    mqtt_device = await kit.connect(device)
    response = await kit.client.post(
        f"/devices/{device.id}/commands",
        json={"method": "reboot", "params": {"delayS": 1}, "mode": "oneway", "timeoutMs": 3000},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    assert response.json()["response"] is None
    assert await asyncio.to_thread(mqtt_device.received.wait, 5.0)
    assert mqtt_device.requests == [{"method": "reboot", "params": {"delayS": 1}}]


@pytest.mark.parametrize("mode", ["twoway", "oneway"])
async def test_an_offline_device_is_a_504_not_a_hang(kit: Kit, mode: str) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)  # never connects
    started = time.monotonic()
    response = await kit.client.post(
        f"/devices/{device.id}/commands",
        json={"function": "blink", "mode": mode, "timeoutMs": 500},
        headers=owner.headers,
    )
    assert_problem(response, 504, "device_timeout")
    # Deadline: timeoutMs plus the configured margin (2 s), with room for a loaded machine.
    assert time.monotonic() - started < 4.0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ([1, 2], 422, "validation_failed"),
        ("call", 422, "validation_failed"),
        ({"params": {}}, 422, "validation_failed"),
        ({"function": "a", "method": "b"}, 422, "validation_failed"),
        ({"function": "bad name"}, 422, "validation_failed"),
        ({"function": "f", "mode": "sometimes"}, 422, "validation_failed"),
        ({"function": "f", "timeoutMs": 10}, 422, "validation_failed"),
        ({"function": "f", "timeoutMs": 600_000}, 422, "invalid_command_timeout"),
        ({"function": "f", "params": {"blob": "x" * 9000}}, 422, "command_too_large"),
        ({"function": "f", "extra": 1}, 422, "validation_failed"),
    ],
)
async def test_bad_commands_are_problems(kit: Kit, body: Any, status: int, code: str) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    response = await kit.client.post(f"/devices/{device.id}/commands", json=body, headers=owner.headers)
    assert_problem(response, status, code)


async def test_malformed_json_is_a_400(kit: Kit) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    response = await kit.client.post(
        f"/devices/{device.id}/commands",
        content=b'{"function": ',
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert_problem(response, 400, "malformed_json")


async def test_settings_patch_put_get_and_the_device_hears_them(kit: Kit) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    mqtt_device = await kit.connect(device)
    url = f"/devices/{device.id}/settings"

    assert (await kit.client.get(url, headers=owner.headers)).json() == {
        "deviceId": str(device.id),
        "values": {},
    }
    patched = await kit.client.patch(url, json={"values": {"led": True, "rate": 5}}, headers=owner.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["values"] == {"led": True, "rate": 5}
    patched = await kit.client.patch(
        url, json={"values": {"rate": None, "mode": "eco"}}, headers=owner.headers
    )
    assert patched.json()["values"] == {"led": True, "mode": "eco"}
    replaced = await kit.client.put(url, json={"values": {"rate": 2.5}}, headers=owner.headers)
    assert replaced.json()["values"] == {"rate": 2.5}
    assert (await kit.client.get(url, headers=owner.headers)).json()["values"] == {"rate": 2.5}

    deadline = time.monotonic() + 5
    while {"led": True, "rate": 5} not in mqtt_device.attribute_updates:
        assert time.monotonic() < deadline, (
            f"device never heard its settings: {mqtt_device.attribute_updates}"
        )
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("method", "body", "code"),
    [
        ("patch", {"values": {"bad key": 1}}, "invalid_settings"),
        ("put", {"values": {"a": None}}, "invalid_settings"),
        ("patch", {"values": {"blob": "x" * 20_000}}, "settings_too_large"),
        ("patch", {"values": [1]}, "validation_failed"),
        ("put", {"led": True}, "validation_failed"),
    ],
)
async def test_bad_settings_are_problems(kit: Kit, method: str, body: Any, code: str) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    response = await kit.client.request(
        method.upper(), f"/devices/{device.id}/settings", json=body, headers=owner.headers
    )
    assert_problem(response, 422, code)


async def test_every_route_is_404_for_another_users_or_an_unknown_device(kit: Kit) -> None:
    alice, bob = await kit.owner("alice"), await kit.owner("bob")
    alices = await kit.device(alice)
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/telemetry/latest", None),
        ("GET", "/telemetry/latest?keys=t", None),
        ("GET", "/telemetry/history?keys=t", None),
        ("POST", "/commands", {"function": "f", "timeoutMs": 500}),
        ("GET", "/settings", None),
        ("PATCH", "/settings", {"values": {"a": 1}}),
        ("PUT", "/settings", {"values": {"a": 1}}),
    ]
    for method, suffix, body in routes:
        mine = await kit.client.request(
            method, f"/devices/{alices.id}{suffix}", json=body, headers=alice.headers
        )
        assert mine.status_code in {200, 504}, (method, suffix, mine.text)
        for device_id in (alices.id, uuid.uuid4()):
            response = await kit.client.request(
                method, f"/devices/{device_id}{suffix}", json=body, headers=bob.headers
            )
            assert_problem(response, 404, "device_not_found")
        anonymous = await kit.client.request(method, f"/devices/{alices.id}{suffix}", json=body)
        assert_problem(anonymous, 401, "not_authenticated")
    # Bob's failed writes left Alice's device untouched.
    settings = await kit.client.get(f"/devices/{alices.id}/settings", headers=alice.headers)
    assert settings.json()["values"] == {"a": 1}
