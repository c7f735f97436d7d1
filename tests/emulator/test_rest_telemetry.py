"""Telemetry and attributes over REST with tb-rest-client 4.3; the device side over the HTTP device API."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tb_rest_client.models.models_ce import Device
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client_ce import RestClientCE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from thingsboard_emulator import Emulator


@pytest.fixture
def tb(sync_emulator: Emulator) -> Iterator[RestClientCE]:
    client = RestClientCE(sync_emulator.http_url)
    client.login("tenant@thingsboard.org", "tenant")
    yield client
    client.stop()


@pytest.fixture
def device(tb: RestClientCE, unique: Callable[[str], str]) -> tuple[Device, str]:
    token = unique("tok")
    profile = tb.get_default_device_profile_info().id
    return tb.save_device(Device(name=unique("d"), device_profile_id=profile), access_token=token), token


def test_latest_values_are_strings_unless_strict(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    url = sync_emulator.http_url
    resp = httpx.post(
        f"{url}/api/v1/{token}/telemetry",
        json={
            "temperature": 42,
            "humidity": 73.4,
            "on": False,
            "fw": "1.2.3",
            "cfg": {"a": 1},
            "n": "12",
            "skip": None,
        },
    )
    assert (resp.status_code, resp.content) == (200, b"")
    latest = tb.get_latest_timeseries(dev.id, keys="temperature,humidity,on,fw,cfg,n,missing")
    values = {k: v[0]["value"] for k, v in latest.items()}
    assert values == {
        "temperature": "42",
        "humidity": "73.4",
        "on": "false",
        "fw": "1.2.3",
        "cfg": '{"a":1}',
        "n": "12",
        "missing": None,
    }
    strict = tb.get_latest_timeseries(
        dev.id, keys="temperature,humidity,on,cfg,n", use_strict_data_types=True
    )
    assert {k: v[0]["value"] for k, v in strict.items()} == {
        "temperature": 42,
        "humidity": 73.4,
        "on": False,
        "cfg": {"a": 1},
        "n": 12,
    }
    assert sorted(tb.get_timeseries_keys_v1(dev.id)) == ["cfg", "fw", "humidity", "n", "on", "temperature"]


def test_history_range_limit_order_and_aggregation(tb: RestClientCE, device: tuple[Device, str]) -> None:
    dev, _ = device
    base = 1_700_000_000_000
    tb.save_entity_telemetry(dev.id, "ANY", [{"ts": base + i * 1000, "values": {"t": i}} for i in range(10)])
    history = tb.get_timeseries(dev.id, keys="t", start_ts=base + 2000, end_ts=base + 6000)
    assert [p["ts"] for p in history["t"]] == [
        base + 5000,
        base + 4000,
        base + 3000,
        base + 2000,
    ]  # [start, end)
    assert history["t"][0]["value"] == "5"
    limited = tb.get_timeseries(dev.id, keys="t", start_ts=base, end_ts=base + 10_000, limit=3)
    assert [p["value"] for p in limited["t"]] == ["9", "8", "7"]
    ascending = tb.get_timeseries(
        dev.id, keys="t", start_ts=base, end_ts=base + 10_000, limit=2, order_by="ASC"
    )
    assert [p["value"] for p in ascending["t"]] == ["0", "1"]
    avg = tb.get_timeseries(
        dev.id,
        keys="t",
        start_ts=base,
        end_ts=base + 10_000,
        interval=5000,
        agg="AVG",
        use_strict_data_types=True,
    )
    assert avg["t"] == [{"ts": base + 7500, "value": 7.0}, {"ts": base + 2500, "value": 2.0}]
    total = tb.get_timeseries(
        dev.id, keys="t", start_ts=base, end_ts=base + 10_000, interval=10_000, agg="SUM"
    )
    assert total["t"] == [{"ts": base + 5000, "value": "45"}]
    assert tb.get_timeseries(dev.id, keys="nothing", start_ts=base, end_ts=base + 10) == {}


def test_telemetry_payload_forms(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    url = f"{sync_emulator.http_url}/api/v1/{token}/telemetry"
    base = 1_600_000_000_000
    assert httpx.post(url, json={"ts": base, "values": {"a": 1}}).status_code == 200
    assert (
        httpx.post(
            url, json=[{"ts": base + 1, "values": {"a": 2}}, {"ts": base + 2, "values": {"a": 3}}]
        ).status_code
        == 200
    )
    assert httpx.post(url, json=[{"b": 1}, {"c": 2}]).status_code == 200
    history = tb.get_timeseries(dev.id, keys="a", start_ts=base, end_ts=base + 3)
    assert [p["value"] for p in history["a"]] == ["3", "2", "1"]
    assert set(tb.get_latest_timeseries(dev.id, keys="b,c")) == {"b", "c"}
    assert httpx.post(url, content=b"42").status_code == 400  # a top-level scalar is not telemetry
    assert httpx.post(url, content=b"{not json").status_code == 500


def test_attributes_scopes_and_device_requests(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    url = sync_emulator.http_url
    assert httpx.post(f"{url}/api/v1/{token}/attributes", json={"fw": "v1.0", "rssi": -60}).status_code == 200
    tb.save_device_attributes(dev.id, "SERVER_SCOPE", {"room": "kitchen"})
    tb.save_entity_attributes_v2(dev.id, "SHARED_SCOPE", {"target": 21.5})
    client = {a["key"]: a["value"] for a in tb.get_attributes_by_scope(dev.id, "CLIENT_SCOPE")}
    assert client == {"fw": "v1.0", "rssi": -60}
    everything = {a["key"] for a in tb.get_attributes(dev.id)}
    assert {"fw", "rssi", "room", "target"} <= everything
    resp = httpx.get(f"{url}/api/v1/{token}/attributes", params={"clientKeys": "fw", "sharedKeys": "target"})
    assert resp.json() == {"client": {"fw": "v1.0"}, "shared": {"target": 21.5}}
    assert httpx.get(f"{url}/api/v1/{token}/attributes").json() == {
        "client": {"fw": "v1.0", "rssi": -60},
        "shared": {"target": 21.5},
    }
    with pytest.raises(ApiException) as bad_scope:
        tb.save_device_attributes(dev.id, "CLIENT_SCOPE", {"x": 1})
    assert (bad_scope.value.status, bad_scope.value.body) == (400, b"Invalid scope: CLIENT_SCOPE")
    tb.delete_entity_attributes(dev.id, "SHARED_SCOPE", "target")
    assert httpx.get(f"{url}/api/v1/{token}/attributes", params={"sharedKeys": "target"}).json() == {}


def test_shared_attribute_long_poll_reaches_only_its_device(
    sync_emulator: Emulator, tb: RestClientCE, unique: Callable[[str], str]
) -> None:
    profile = tb.get_default_device_profile_info().id
    tok_a, tok_b = unique("a"), unique("b")
    dev_a = tb.save_device(Device(name=unique("da"), device_profile_id=profile), access_token=tok_a)
    tb.save_device(Device(name=unique("db"), device_profile_id=profile), access_token=tok_b)
    url = sync_emulator.http_url
    results: dict[str, httpx.Response] = {}

    def poll(token: str, timeout_ms: int) -> None:
        results[token] = httpx.get(
            f"{url}/api/v1/{token}/attributes/updates", params={"timeout": timeout_ms}, timeout=10
        )

    threads = [
        threading.Thread(target=poll, args=(tok_a, 5000)),
        threading.Thread(target=poll, args=(tok_b, 1500)),
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while sync_emulator.core.device_api.session_count() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    tb.save_device_attributes(dev_a.id, "SHARED_SCOPE", {"led": "on"})
    for t in threads:
        t.join(10)
    assert (results[tok_a].status_code, results[tok_a].json()) == (200, {"led": "on"})
    assert results[tok_b].status_code == 408


def test_rest_telemetry_errors(sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]) -> None:
    dev, _ = device
    headers = {"X-Authorization": f"Bearer {tb.token_info['token']}"}
    base = f"{sync_emulator.http_url}/api/plugins/telemetry/DEVICE/{dev.id.id}"
    resp = httpx.post(f"{base}/timeseries/ANY", content=b"{oops", headers=headers)
    assert (resp.status_code, resp.text) == (400, "Unable to parse time series payload: Invalid JSON body!")
    resp = httpx.post(f"{base}/attributes/SERVER_SCOPE", content=b"[1]", headers=headers)
    assert (resp.status_code, resp.text) == (400, "Request is not a JSON object")
    resp = httpx.post(f"{base}/attributes/SERVER_SCOPE", content=b"{}", headers=headers)
    assert (resp.status_code, resp.text) == (400, "No attributes data found in request body!")
    resp = httpx.post(
        f"{base}/attributes/SERVER_SCOPE",
        content=b'{"a": 1}',
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert resp.status_code == 200


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["key"] for i in items]
