"""Bad input to the simulator's ESP-IDF provisioning endpoints: an error (HTTP 500 with the protocomm status,
or 413), never a crash, and the device stays provisionable. The local API beside it is unchanged."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from firmware.core import protobuf as pb
from firmware.core import protocomm as pc
from firmware.sim.fleet import Fleet
from firmware.sim.world import World
from porto_contract.client import espprov

if TYPE_CHECKING:
    from collections.abc import Iterator

FORM = {"Content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def sim() -> Iterator[Any]:
    world = World(join_delay_s=0.05)
    world.add("home", "correct-horse-9")
    options = {"sec_ver": 1, "pop": "abcd1234", "limits": {"max_failures": 3, "lockout_s": 0.4, "idle_s": 30}}
    with Fleet(world, mqtt_port=1, provisioning=options) as fleet:
        yield fleet.spawn(1)[0]


def post(dev: Any, endpoint: str, body: bytes, cookie: str = "") -> httpx.Response:
    headers = dict(FORM, Cookie=cookie) if cookie else FORM
    return httpx.post(f"{dev.local_url}/{endpoint}", content=body, headers=headers, timeout=5)


def provisioner(dev: Any, pop: str = "abcd1234") -> espprov.Provisioner:
    prov = espprov.Provisioner(espprov.HttpTransport(f"127.0.0.1:{dev.port}"))
    prov.establish(espprov.ClientSecurity1(pop))
    return prov


def works(dev: Any) -> None:
    prov = provisioner(dev)
    assert prov.set_pairing("pk", "owner-key-123", "token", "127.0.0.1", 1) == dev.identity["deviceId"]


@pytest.mark.parametrize(
    "body",
    [b"\x10\x01\x5a", b"\xff" * 40, b"\x10\x01\x5a\x05\xa2\x01\x02\x0a\x20", b"\x10\x02", b""],
    ids=["truncated", "garbage", "short-key", "wrong-scheme", "empty"],
)
def test_garbage_session_messages_fail_and_a_correct_session_follows(sim: Any, body: bytes) -> None:
    answer = post(sim, "prov-session", body)
    assert answer.status_code == 500
    assert answer.headers["X-Protocomm-Status"] in {str(s) for s in range(1, 8)}
    works(sim)


def test_a_session_message_out_of_order_is_refused(sim: Any) -> None:
    sc1 = pc.session_data(1, pb.encode([(1, pb.V, 2), (22, pb.M, pb.encode([(2, pb.B, bytes(32))]))]))
    answer = post(sim, "prov-session", sc1)
    assert answer.status_code == 500
    assert answer.headers["X-Protocomm-Status"] == str(pc.INVALID_SESSION)
    works(sim)


def test_a_second_session_is_refused_while_one_is_open_and_the_first_goes_on(sim: Any) -> None:
    first = provisioner(sim)
    with pytest.raises(espprov.ProvError, match="TooManySessions"):
        provisioner(sim)
    assert first.set_pairing("pk", "owner-key-123", "token", "127.0.0.1", 1)
    assert sim.comm.stats["failed_handshakes"] == 0


def test_wifi_config_before_a_session_is_refused(sim: Any) -> None:
    set_config = pb.encode([(1, pb.V, 2), (12, pb.M, pb.encode([(1, pb.B, "home")]))])
    for cookie in ("", "session=12345"):
        answer = post(sim, "prov-config", set_config, cookie)
        assert answer.status_code == 500
        assert answer.headers["X-Protocomm-Status"] == str(pc.INVALID_SESSION)
    assert sim.device.status()["statusCode"] == 0
    works(sim)


def test_an_oversized_body_is_refused_before_it_is_read(sim: Any) -> None:
    assert post(sim, "prov-session", b"\x00" * 5000).status_code == 413
    works(sim)


def test_garbage_inside_an_established_session_is_an_error_not_a_crash(sim: Any) -> None:
    prov = provisioner(sim)
    cookie = prov.transport.headers["Cookie"]
    assert post(sim, "prov-config", b"\xff\xff\xff", cookie).status_code == 500
    assert post(sim, "no-such-endpoint", b"\x08\x00", cookie).status_code in (
        404,
        415,
    )  # the local API's, not protocomm's
    assert sim.device.status()["statusCode"] == 0


def test_guessing_the_pop_locks_out_then_recovers_without_leaking(sim: Any) -> None:
    for _ in range(3):
        with pytest.raises(espprov.ProvError, match="PoP"):
            provisioner(sim, "guess-000")
    # Locked: even the right PoP waits; the refusal says why and carries no key material.
    answer = post(sim, "prov-session", b"\x10\x01\x5a\x25\xa2\x01\x22\x0a\x20" + bytes(32))
    assert answer.status_code == 500
    assert answer.headers["X-Protocomm-Status"] == str(pc.TOO_MANY_SESSIONS)
    assert answer.content == b""
    time.sleep(0.5)
    works(sim)
    assert sim.comm.stats["lockouts"] == 1


def test_the_local_api_beside_it_is_unchanged(sim: Any) -> None:
    assert httpx.get(f"{sim.local_url}/config/current-status", timeout=5).json()["statusCode"] == 0
    refused = httpx.post(f"{sim.local_url}/config/data", content=b"x=1", headers=FORM, timeout=5)
    assert refused.status_code == 415
    assert httpx.get(f"{sim.local_url}/prov-session", timeout=5).status_code == 404


def test_without_provisioning_flags_the_endpoints_do_not_exist() -> None:
    world = World()
    with Fleet(world, mqtt_port=1) as fleet:
        dev = fleet.spawn(1)[0]
        assert post(dev, "proto-ver", b"---").status_code == 415
