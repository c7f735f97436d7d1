"""Server-side RPC through tb-rest-client 4.3, against a device on the HTTP device API (long poll)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tb_rest_client.models.models_ce import Device
from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client_ce import RestClientCE

from tests.emulator.conftest import wait_for

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


class HttpDevice(threading.Thread):
    """Polls ``/api/v1/{token}/rpc`` once and answers with ``reply`` (raw bytes; ``None`` = never answer)."""

    def __init__(self, url: str, token: str, reply: bytes | None, delay_s: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.reply, self.delay_s = url, token, reply, delay_s
        self.received: dict[str, Any] | None = None
        self.status: int | None = None

    def run(self) -> None:
        time.sleep(self.delay_s)  # simulates a device that comes online late; not a synchronisation sleep
        resp = httpx.get(f"{self.url}/api/v1/{self.token}/rpc", params={"timeout": 8000}, timeout=15)
        self.status = resp.status_code
        if resp.status_code != 200:
            return
        self.received = resp.json()
        if self.reply is not None:
            httpx.post(f"{self.url}/api/v1/{self.token}/rpc/{self.received['id']}", content=self.reply)


def expiring(ms: int) -> int:
    return int(time.time() * 1000) + ms


def test_two_way_rpc_v2_round_trip(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    fake = HttpDevice(sync_emulator.http_url, token, b'{"state": "on"}')
    fake.start()
    reply = tb.handle_two_way_device_rpc_request_v1(
        dev.id, body={"method": "getState", "params": {"x": 1}, "timeout": 8000}
    )
    fake.join(10)
    assert reply == {"state": "on"}
    assert fake.received == {"id": 0, "method": "getState", "params": {"x": 1}}


def test_rpc_waits_for_a_device_that_subscribes_later(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    fake = HttpDevice(sync_emulator.http_url, token, b'"done"', delay_s=0.5)
    fake.start()
    reply = tb.handle_two_way_device_rpc_request(dev.id, body={"method": "reboot", "timeout": 8000})
    fake.join(10)
    assert reply == "done"
    assert fake.received is not None


def test_one_way_rpc_returns_once_sent(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    fake = HttpDevice(sync_emulator.http_url, token, None)
    fake.start()
    result = tb.handle_one_way_device_rpc_request_v1(
        dev.id, body={"method": "blink", "params": {"n": 3}, "timeout": 8000}
    )
    fake.join(10)
    assert result == b""  # TB answers a sent one-way RPC with 200 and an empty body
    assert fake.received == {"id": 0, "method": "blink", "params": {"n": 3}}


def test_offline_device_v1_409_v2_504_empty_bodies(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, _ = device
    with pytest.raises(ApiException) as v1:
        tb.handle_two_way_device_rpc_request(dev.id, body={"method": "m", "expirationTime": expiring(300)})
    assert (v1.value.status, v1.value.body) == (409, b"")
    with pytest.raises(ApiException) as v2:
        tb.handle_two_way_device_rpc_request_v1(dev.id, body={"method": "m", "expirationTime": expiring(300)})
    assert (v2.value.status, v2.value.body) == (504, b"")


def test_delivered_but_unanswered_is_408_on_v1(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    fake = HttpDevice(sync_emulator.http_url, token, None)
    fake.start()
    with pytest.raises(ApiException) as exc:
        tb.handle_two_way_device_rpc_request(dev.id, body={"method": "m", "expirationTime": expiring(1500)})
    fake.join(10)
    assert fake.received is not None
    assert (exc.value.status, exc.value.body) == (408, b"")


def test_non_json_reply_is_406(sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]) -> None:
    dev, token = device
    fake = HttpDevice(sync_emulator.http_url, token, b"not json")
    fake.start()
    with pytest.raises(ApiException) as exc:
        tb.handle_two_way_device_rpc_request_v1(dev.id, body={"method": "m", "timeout": 8000})
    fake.join(10)
    assert exc.value.status == 406


def test_rpc_bad_bodies_and_access(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, _ = device
    headers = {"X-Authorization": f"Bearer {tb.token_info['token']}"}
    url = f"{sync_emulator.http_url}/api/rpc/twoway/{dev.id.id}"
    resp = httpx.post(url, content=b'{"params": {}}', headers=headers)
    assert (resp.status_code, resp.json()["message"]) == (400, "Invalid request body")
    assert httpx.post(url, content=b"{oops", headers=headers).status_code == 400
    assert httpx.post(url, content=b'{"method": "m"}').status_code == 401


def test_device_rpc_reply_payload_limit(sync_emulator: Emulator, device: tuple[Device, str]) -> None:
    _, token = device
    resp = httpx.post(f"{sync_emulator.http_url}/api/v1/{token}/rpc/0", content=b"[" + b"1," * 40000 + b"1]")
    assert resp.status_code == 413


def test_client_side_rpc_over_http(sync_emulator: Emulator, device: tuple[Device, str]) -> None:
    _, token = device
    resp = httpx.post(
        f"{sync_emulator.http_url}/api/v1/{token}/rpc", json={"method": "getSessionLimits", "params": {}}
    )
    assert resp.json()["maxPayloadSize"] == 65536
    sync_emulator.core.device_api.client_rpc_handler = lambda _dev, method, params: {
        "echo": method,
        "p": params,
    }
    resp = httpx.post(
        f"{sync_emulator.http_url}/api/v1/{token}/rpc", json={"method": "getTime", "params": {"a": 1}}
    )
    assert resp.json() == {"echo": "getTime", "p": {"a": 1}}


def test_persistent_rpc_is_tracked(
    sync_emulator: Emulator, tb: RestClientCE, device: tuple[Device, str]
) -> None:
    dev, token = device
    submitted = tb.handle_two_way_device_rpc_request_v1(
        dev.id, body={"method": "setLed", "params": {"on": True}, "persistent": True, "timeout": 8000}
    )
    rpc_id = submitted["rpcId"]
    headers = {"X-Authorization": f"Bearer {tb.token_info['token']}"}
    url = sync_emulator.http_url

    def status() -> str:
        return str(httpx.get(f"{url}/api/rpc/persistent/{rpc_id}", headers=headers).json()["status"])

    assert status() == "QUEUED"
    fake = HttpDevice(url, token, b'{"ok": true}')
    fake.start()
    fake.join(10)
    assert fake.received == {"id": 0, "method": "setLed", "params": {"on": True}}
    wait_for(lambda: status() == "SUCCESSFUL")
    record = httpx.get(f"{url}/api/rpc/persistent/{rpc_id}", headers=headers).json()
    assert record["response"] == {"ok": True}
    assert record["deviceId"]["id"] == dev.id.id
    listed = httpx.get(
        f"{url}/api/rpc/persistent/device/{dev.id.id}?pageSize=10&page=0", headers=headers
    ).json()
    assert [r["id"]["id"] for r in listed["data"]] == [rpc_id]
    assert httpx.delete(f"{url}/api/rpc/persistent/{rpc_id}", headers=headers).status_code == 200
    assert httpx.get(f"{url}/api/rpc/persistent/{rpc_id}", headers=headers).status_code == 404
