"""GetLatestTelemetry and GetTelemetryHistory against the emulator, with a real MQTT device publishing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.devicedata.conftest import Kit, eventually

if TYPE_CHECKING:
    import httpx


pytestmark = pytest.mark.integration


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


async def test_latest_values_come_back_typed(kit: Kit) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    mqtt_device = await kit.connect(device)
    await mqtt_device.publish({"temperature": 21.5, "count": 3, "on": True, "mode": "eco", "asText": "42"})
    url = f"/devices/{device.id}/telemetry/latest"

    response = await eventually(
        lambda: kit.client.get(
            url, params={"keys": "temperature,count,on,mode,asText,never"}, headers=owner.headers
        ),
        lambda r: r.status_code == 200 and r.json()["values"]["temperature"] is not None,
    )
    body = response.json()
    assert body["deviceId"] == str(device.id)
    values = {k: (v["value"] if v else None) for k, v in body["values"].items()}
    assert values == {"temperature": 21.5, "count": 3, "on": True, "mode": "eco", "asText": 42, "never": None}
    assert all(isinstance(v["ts"], int) for v in body["values"].values() if v)

    everything = await kit.client.get(url, headers=owner.headers)
    assert everything.status_code == 200
    assert set(everything.json()["values"]) == {"temperature", "count", "on", "mode", "asText"}


async def test_history_by_range_limit_order_and_aggregation(kit: Kit) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    mqtt_device = await kit.connect(device)
    start = (int(time.time()) - 3600) * 1000
    for i in range(6):
        await mqtt_device.publish({"t": 10 + i}, ts_ms=start + i * 60_000)
    url = f"/devices/{device.id}/telemetry/history"
    window = {"keys": "t,unknown", "startTs": start, "endTs": start + 6 * 60_000}

    response = await eventually(
        lambda: kit.client.get(url, params=window, headers=owner.headers),
        lambda r: r.status_code == 200 and len(r.json()["series"]["t"]) == 6,
    )
    body = response.json()
    assert [s["value"] for s in body["series"]["t"]] == [15, 14, 13, 12, 11, 10]
    assert body["series"]["unknown"] == []
    assert body["aggregation"] == "NONE"

    limited = await kit.client.get(url, params={**window, "limit": 2, "order": "ASC"}, headers=owner.headers)
    assert [s["value"] for s in limited.json()["series"]["t"]] == [10, 11]

    averaged = await kit.client.get(
        url,
        params={**window, "keys": "t", "aggregation": "AVG", "intervalMs": 180_000, "order": "ASC"},
        headers=owner.headers,
    )
    assert averaged.status_code == 200, averaged.text
    assert [s["value"] for s in averaged.json()["series"]["t"]] == [11, 14]
    assert averaged.json()["intervalMs"] == 180_000


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        # keys is a required parameter (the document says so): its absence is the parameter decoder's 422.
        ({}, 422, "validation_failed"),
        ({"keys": " "}, 422, "invalid_telemetry_keys"),
        ({"keys": "a b"}, 422, "invalid_telemetry_keys"),
        ({"keys": "x" * 65}, 422, "invalid_telemetry_keys"),
        ({"keys": ",".join(f"k{i}" for i in range(51))}, 422, "invalid_telemetry_keys"),
        ({"keys": "t", "startTs": 2_000, "endTs": 1_000}, 422, "invalid_time_range"),
        ({"keys": "t", "startTs": 0, "endTs": 32 * 86_400_000}, 422, "time_range_too_large"),
        ({"keys": "t", "aggregation": "AVG"}, 422, "invalid_aggregation"),
        ({"keys": "t", "aggregation": "SUM", "intervalMs": 1}, 422, "invalid_aggregation"),
        ({"keys": "t", "aggregation": "MEDIAN", "intervalMs": 1000}, 422, "validation_failed"),
        ({"keys": "t", "limit": 0}, 422, "validation_failed"),
        ({"keys": "t", "limit": 10_001}, 422, "validation_failed"),
        ({"keys": "t", "startTs": "yesterday"}, 422, "validation_failed"),
    ],
)
async def test_bad_history_requests_are_problems(
    kit: Kit, params: dict[str, Any], status: int, code: str
) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    response = await kit.client.get(
        f"/devices/{device.id}/telemetry/history", params=params, headers=owner.headers
    )
    assert_problem(response, status, code)


async def test_thingsboard_down_is_a_503_within_the_timeout_and_recovers(kit: Kit) -> None:
    owner = await kit.owner()
    device = await kit.device(owner)
    url = f"/devices/{device.id}/telemetry/latest"
    assert (await kit.client.get(url, params={"keys": "t"}, headers=owner.headers)).status_code == 200

    kit.emulator.faults.rest_slow(30.0)
    started = time.monotonic()
    slow = await kit.client.get(url, params={"keys": "t"}, headers=owner.headers)
    # tb_settings configures a 1 s ThingsBoard timeout; allow scheduling slack, never the 30 s stall.
    assert time.monotonic() - started < 3.0
    assert_problem(slow, 503, "thingsboard_unavailable")
    assert slow.headers["retry-after"]

    kit.emulator.faults.rest_unavailable()
    assert_problem(
        await kit.client.get(url, params={"keys": "t"}, headers=owner.headers), 503, "thingsboard_unavailable"
    )

    kit.emulator.faults.clear()
    deadline = time.monotonic() + 10
    while (await kit.client.get(url, params={"keys": "t"}, headers=owner.headers)).status_code != 200:
        assert time.monotonic() < deadline, "petit did not recover after ThingsBoard came back"
