"""`porto provision --transport ble` against a simulated ESP-IDF peripheral at the bleak boundary: a fake
BleakScanner/BleakClient exposing protocomm_ble's GATT layout (one characteristic per endpoint, named by a
0x2901 descriptor) whose writes reach the simulator's protocomm handler. No radio, no BlueZ."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from bleak.exc import BleakError
from click.testing import CliRunner

from firmware.core import protocomm as pc
from firmware.sim.fleet import Fleet
from firmware.sim.world import World
from porto_contract import cli
from porto_contract.client import espprov
from porto_contract.client.espprov_ble import (
    DEFAULT_SERVICE_UUID,
    STANDARD_ENDPOINTS,
    USER_DESCRIPTION_UUID,
    BleTransport,
    characteristic_uuid,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# The scheme_ble default service UUID as ESP-IDF writes it: a byte array, least significant byte first.
DEFAULT_SERVICE_BYTES_LSB_FIRST = bytes(
    [0x07, 0xED, 0x9B, 0x2D, 0x0F, 0x06, 0x7C, 0x87, 0x9B, 0x43, 0x43, 0x6B, 0x4D, 0x24, 0x75, 0x17]
)
CUSTOM_ENDPOINTS = {"petit-pair": 0xFF54}


@dataclass
class Descriptor:
    uuid: str
    handle: int
    value: bytes


@dataclass
class Characteristic:
    uuid: str
    handle: int
    endpoint: str
    descriptors: list[Descriptor] = field(default_factory=list)


@dataclass
class Service:
    uuid: str
    characteristics: list[Characteristic]


@dataclass
class Device:
    name: str | None
    address: str
    peripheral: Peripheral


@dataclass
class Advertisement:
    local_name: str | None
    service_uuids: list[str]


class Peripheral:
    """An ESP-IDF device's provisioning GATT server in front of a protocomm handler."""

    def __init__(
        self, comm: Any, name: str = "PROV_1a2b3c", *, descriptors: bool = True, service_uuid: str = ""
    ) -> None:
        self.comm = comm
        self.name = name
        self.service_uuid = service_uuid or DEFAULT_SERVICE_UUID
        handles = iter(range(1, 100))
        chars = []
        for endpoint, number in {**STANDARD_ENDPOINTS, **CUSTOM_ENDPOINTS}.items():
            char = Characteristic(characteristic_uuid(self.service_uuid, number), next(handles), endpoint)
            if descriptors:
                char.descriptors.append(Descriptor(USER_DESCRIPTION_UUID, next(handles), endpoint.encode()))
            chars.append(char)
        # A second, unrelated service, as real devices have (GAP, GATT).
        self.services = [
            Service("00001800-0000-1000-8000-00805f9b34fb", []),
            Service(self.service_uuid, chars),
        ]
        self.writes: list[tuple[str, bytes]] = []


class Scanner:
    def __init__(self, *peripherals: Peripheral) -> None:
        self.peripherals = peripherals

    async def discover(
        self,
        timeout: float,  # noqa: ASYNC109 - bleak's signature
        return_adv: bool,
    ) -> dict[str, tuple[Device, Advertisement]]:
        assert return_adv
        return {
            f"AA:BB:CC:00:00:{i:02X}": (
                Device(p.name, f"AA:BB:CC:00:00:{i:02X}", p),
                Advertisement(p.name, [p.service_uuid]),
            )
            for i, p in enumerate(self.peripherals)
        }


class Client:
    """One BLE connection: protocomm's session lives as long as it (ESP-IDF keys it on the connection)."""

    def __init__(self, device: Device, timeout: float) -> None:
        self.peripheral = device.peripheral
        self.session = 0
        self.answers: dict[int, bytes] = {}
        self.connected = False

    async def connect(self) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False

    @property
    def services(self) -> list[Service]:
        assert self.connected
        return self.peripheral.services

    async def read_gatt_descriptor(self, handle: int) -> bytearray:
        for service in self.peripheral.services:
            for char in service.characteristics:
                for descriptor in char.descriptors:
                    if descriptor.handle == handle:
                        return bytearray(descriptor.value)
        raise BleakError(f"no descriptor {handle}")

    async def write_gatt_char(self, char: Characteristic, data: bytes, response: bool | None = None) -> None:
        assert response is True
        self.peripheral.writes.append((char.endpoint, bytes(data)))
        try:
            answer, announce = self.peripheral.comm.handle(char.endpoint, bytes(data), self.session)
        except pc.ProtocommError:
            raise BleakError("ATT error: invalid PDU") from None
        if announce:
            self.session = announce
        self.answers[char.handle] = answer

    async def read_gatt_char(self, char: Characteristic) -> bytearray:
        return bytearray(self.answers.get(char.handle, b""))


@pytest.fixture
def sim() -> Iterator[Any]:
    world = World(join_delay_s=0.05)
    world.add("home", "correct-horse-9")
    with Fleet(world, mqtt_port=1, provisioning={"sec_ver": 1, "pop": "abcd1234"}) as fleet:
        yield fleet.spawn(1)[0]


def transport(*peripherals: Peripheral, name: str = "PROV_1a2b3c") -> BleTransport:
    return BleTransport(name, timeout_s=2, scanner=Scanner(*peripherals), client_factory=Client)


def test_characteristic_uuids_follow_protocomm_ble_byte_layout() -> None:
    """Bytes 12-13 of ESP-IDF's little-endian UUID array hold the endpoint number, little-endian."""
    assert str(uuid.UUID(bytes=DEFAULT_SERVICE_BYTES_LSB_FIRST[::-1])) == DEFAULT_SERVICE_UUID
    for number in STANDARD_ENDPOINTS.values():
        flat = bytearray(DEFAULT_SERVICE_BYTES_LSB_FIRST)
        flat[12:14] = number.to_bytes(2, "little")
        assert characteristic_uuid(DEFAULT_SERVICE_UUID, number) == str(uuid.UUID(bytes=bytes(flat[::-1])))
    assert characteristic_uuid(DEFAULT_SERVICE_UUID, 0xFF51) == "1775ff51-6b43-439b-877c-060f2d9bed07"


def test_ble_provisioning_with_a_wrong_pop_then_the_right_one(sim: Any) -> None:
    peripheral = Peripheral(sim.comm)
    wrong = espprov.Provisioner(transport(peripheral))
    wrong.transport.connect()
    assert wrong.version()["prov"]["sec_ver"] == 1
    with pytest.raises(espprov.ProvError) as failed:
        wrong.establish(espprov.ClientSecurity1("wrong-pop"))
    assert failed.value.kind == "handshake"
    wrong.transport.close()

    channel = transport(peripheral)
    channel.connect()
    assert set(channel.endpoints) == {*STANDARD_ENDPOINTS, *CUSTOM_ENDPOINTS}
    prov = espprov.Provisioner(channel)
    prov.establish(espprov.ClientSecurity1("abcd1234"))
    assert [n["ssid"] for n in prov.scan()] == ["home"]
    assert prov.set_pairing("pk-ble", "owner-key-ble", "token", "127.0.0.1", 1) == sim.identity["deviceId"]
    prov.set_config("home", "correct-horse-9")
    prov.apply_config()
    deadline = time.monotonic() + 10
    while prov.wifi_status()["state"] != "connected":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    channel.close()
    # Everything after the handshake went over the air encrypted: no plaintext SSID in any write.
    assert not any(b"correct-horse-9" in data for _, data in peripheral.writes)


def test_without_descriptors_the_standard_endpoints_are_found_by_uuid(sim: Any) -> None:
    channel = transport(Peripheral(sim.comm, descriptors=False))
    channel.connect()
    assert set(channel.endpoints) == set(STANDARD_ENDPOINTS)
    prov = espprov.Provisioner(channel)
    prov.establish(espprov.ClientSecurity1("abcd1234"))
    # petit-pair is custom: without its descriptor there is no way to find it.
    with pytest.raises(espprov.ProvError, match="no such BLE endpoint"):
        prov.set_pairing("pk", "owner-key-123", "token", "127.0.0.1", 1)
    channel.close()


def test_a_device_that_is_not_advertising_is_a_transport_error(sim: Any) -> None:
    channel = transport(Peripheral(sim.comm, name="PROV_other"))
    with pytest.raises(espprov.ProvError, match="no BLE device named PROV_1a2b3c") as failed:
        channel.connect()
    assert failed.value.kind == "transport"
    channel.close()


def test_a_service_without_protocomm_endpoints_is_refused(sim: Any) -> None:
    channel = transport(
        Peripheral(sim.comm, descriptors=False, service_uuid="0000abcd-0000-1000-8000-00805f9b34fb")
    )
    channel.service_uuid = DEFAULT_SERVICE_UUID
    with pytest.raises(espprov.ProvError, match="no provisioning service"):
        channel.connect()
    channel.close()


def test_porto_provision_ble_needs_a_device_name() -> None:
    done = CliRunner().invoke(cli.main, ["provision", "--transport", "ble", "--pop", "abcd1234"])
    assert done.exit_code == 2
    assert "--device_name" in done.output


def test_porto_provision_ble_builds_a_bleak_transport() -> None:
    made = cli._transport("ble", "", None, "PROV_1a2b3c", "021A9004-0382-4AEA-BFF4-6B3F1C5ADFB4")
    assert isinstance(made, BleTransport)
    assert made.service_uuid == "021a9004-0382-4aea-bff4-6b3f1c5adfb4"
    assert made.scanner.__name__ == "BleakScanner"
    made.close()


def test_porto_provision_over_ble_reaches_the_device_and_reports_a_wrong_pop(
    sim: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The command as typed, down to the handshake (petit is not needed before it)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    tokens = {"accessToken": "a", "refreshToken": "r", "expiresIn": 900, "refreshExpiresIn": 9000}
    cli.save_config({"url": "http://petit.test", "tokens": tokens})
    peripheral = Peripheral(sim.comm, name="PROV_porch")
    made: list[BleTransport] = []

    def fake_ble(device_name: str, service_uuid: str | None) -> BleTransport:
        made.append(BleTransport(device_name, service_uuid, 2, Scanner(peripheral), Client))
        return made[-1]

    monkeypatch.setattr(cli.espprov_ble, "BleTransport", fake_ble)
    done = CliRunner().invoke(
        cli.main, ["provision", "--transport", "ble", "--device_name", "PROV_porch", "--pop", "wrong"]
    )
    assert done.exit_code == 1, done.output
    lines = done.output.splitlines()
    assert lines[:3] == [
        "Looking for BLE device: PROV_porch",
        "==== Auto-detected Security Scheme: 1 ====",
        "Establishing session - Failed",
    ]
    assert "security handshake failed" in done.output
    assert [endpoint for endpoint, _ in peripheral.writes] == ["proto-ver", "prov-session", "prov-session"]
    assert made[0].client is None  # the command closed the link
