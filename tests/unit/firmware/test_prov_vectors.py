"""firmware/tests/vectors/esp-prov.json, replayed on both sides: the device (firmware/core) must answer each
recorded request with the recorded bytes, and the client (porto_contract) must send the recorded requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from firmware.core import protobuf as pb
from firmware.core import protocomm as pc
from firmware.sim.crypto import HostCrypto
from firmware.tests.vectors.generate import SET_CONFIG, SET_CONFIG_OK, ScriptedCrypto
from porto_contract.client import espprov

VECTORS = json.loads(
    (Path(__file__).resolve().parents[3] / "firmware/tests/vectors/esp-prov.json").read_text(encoding="utf-8")
)


def device_for(scheme: str) -> Any:
    v = VECTORS[scheme]
    if scheme == "sec1":
        crypto = ScriptedCrypto([bytes.fromhex(v["device_random"])], bytes.fromhex(v["device_private"]))
        return pc.Security1(crypto, v["pop"].encode())
    crypto = ScriptedCrypto([bytes.fromhex(v["b"]), bytes.fromhex(v["session_id"])])
    return pc.Security2(crypto, bytes.fromhex(v["salt"]), bytes.fromhex(v["verifier"]))


def client_for(scheme: str) -> Any:
    v = VECTORS[scheme]
    if scheme == "sec1":
        return espprov.ClientSecurity1(v["pop"], private_key=bytes.fromhex(v["client_private"]))
    return espprov.ClientSecurity2(v["username"], v["password"], patch_ver=1, a=bytes.fromhex(v["a"]))


@pytest.mark.parametrize("scheme", ["sec1", "sec2"])
def test_the_device_answers_the_recorded_requests_with_the_recorded_bytes(scheme: str) -> None:
    device = device_for(scheme)
    *handshake, data = VECTORS[scheme]["steps"]
    for step in handshake:
        assert device.handshake(bytes.fromhex(step["request"])).hex() == step["response"]
    assert device.established
    assert device.decrypt(bytes.fromhex(data["request"])) == SET_CONFIG
    assert device.encrypt(SET_CONFIG_OK).hex() == data["response"]


@pytest.mark.parametrize("scheme", ["sec1", "sec2"])
def test_the_client_sends_the_recorded_requests(scheme: str) -> None:
    client = client_for(scheme)
    *handshake, data = VECTORS[scheme]["steps"]
    answers = iter(handshake)

    def send(request: bytes) -> bytes:
        step = next(answers)
        assert request.hex() == step["request"]
        return bytes.fromhex(step["response"])

    client.handshake(send)
    assert client.encrypt(SET_CONFIG).hex() == data["request"]
    assert client.decrypt(bytes.fromhex(data["response"])) == SET_CONFIG_OK


def test_the_sec2_verifier_is_esp_idfs_published_one() -> None:
    v = VECTORS["sec2"]
    verifier = pc.srp_verifier(HostCrypto(), b"wifiprov", b"abcd1234", bytes.fromhex(v["salt"]))
    assert verifier.hex() == v["verifier"]
    # First and last bytes of sec2_verifier in ESP-IDF's wifi_prov_mgr example and test_srp.c.
    assert v["verifier"].startswith("7c7c85476508946dd636af37d7e8914378cffd616c59d2f83908127238de9e24")
    assert v["verifier"].endswith("e6f653c831a878de5040f762de36b2ba")
    assert len(verifier) == 384


def test_protobuf_encodings() -> None:
    encodings = VECTORS["protobuf"]
    # Encoded by the protobuf package from ESP-IDF's session.proto (device-provisioning.md §1.4).
    assert encodings["SessionData sec1 sc0 client_pubkey=00*32"] == "10015a25a201220a20" + "00" * 32
    # sec_ver=0 and msg=0 are proto3 defaults, left out; the empty oneof member sc (20) is not.
    assert encodings["SessionData sec0 S0SessionCmd"] == "5203a20100"
    assert encodings["WiFiConfigPayload SetConfig MyWiFiNetwork/MyWiFiPassword"] == SET_CONFIG.hex()
    scan = pb.decode(bytes.fromhex(encodings["WiFiScanResult rssi=-45"]))
    assert pb.get_int32(scan, 3) == -45
    status = pb.decode(bytes.fromhex(encodings["RespGetStatus ConnectionFailed AuthError"]))
    assert status[10] == [0]  # a set oneof member is on the wire even at its default
