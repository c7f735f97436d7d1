"""BLE transport for ESP-IDF provisioning over ``bleak``: the GATT layout of ESP-IDF's protocomm_ble /
protocomm_nimble, as esp_prov reads it.

- The device advertises one 128-bit service UUID (wifi_prov's default is DEFAULT_SERVICE_UUID; firmware
  may set its own). Every protocomm endpoint is one characteristic of that service.
- Each characteristic carries a User Description descriptor (0x2901) whose value is the endpoint's name;
  that is how the client maps names to characteristics, custom endpoints such as ``petit-pair`` included.
- Firmware without those descriptors: the standard endpoints' characteristic UUIDs are the service UUID
  with its 16-bit field (bytes 12-13 of ESP-IDF's little-endian array, characters 4-8 of the string)
  replaced by the endpoint's number (STANDARD_ENDPOINTS, from wifi_provisioning's manager).
- One exchange is a write (with response) of the request, then a read of the same characteristic, which
  returns the answer the device stored on write. A request the device refuses fails the write.
- The BLE connection is the session: nothing like the HTTP transport's cookie goes over the air.

Verified against a simulated peripheral at the bleak boundary only, not on hardware (firmware/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from porto_contract.client.espprov import ProvError

if TYPE_CHECKING:
    from collections.abc import Coroutine

DEFAULT_SERVICE_UUID = "1775244d-6b43-439b-877c-060f2d9bed07"
USER_DESCRIPTION_UUID = "00002901-0000-1000-8000-00805f9b34fb"
STANDARD_ENDPOINTS = {
    "prov-ctrl": 0xFF4F,
    "prov-scan": 0xFF50,
    "prov-session": 0xFF51,
    "prov-config": 0xFF52,
    "proto-ver": 0xFF53,
}
REQUIRED = ("prov-session", "proto-ver")


def characteristic_uuid(service_uuid: str, uuid16: int) -> str:
    """The characteristic protocomm_ble derives for a 16-bit endpoint number."""
    service = service_uuid.lower()
    return service[:4] + f"{uuid16:04x}" + service[8:]


class BleTransport:
    """``porto provision --transport ble --device_name PROV_xxx``. ``scanner`` and ``client_factory`` are
    bleak's BleakScanner and BleakClient unless a test hands in stand-ins."""

    def __init__(
        self,
        device_name: str,
        service_uuid: str | None = None,
        timeout_s: float = 10.0,
        scanner: Any = None,
        client_factory: Any = None,
    ) -> None:
        if scanner is None or client_factory is None:
            # Imported here so that the other transports never load bleak (or its D-Bus layer).
            from bleak import BleakClient, BleakScanner  # noqa: PLC0415

            scanner = scanner or BleakScanner
            client_factory = client_factory or BleakClient
        self.device_name = device_name
        self.service_uuid = service_uuid.lower() if service_uuid else None
        self.timeout_s = timeout_s
        self.scanner = scanner
        self.client_factory = client_factory
        self.client: Any = None
        self.endpoints: dict[str, Any] = {}
        # bleak is asyncio; the provisioning conversation is synchronous, so one private loop drives it,
        # made on first use so that a transport never connected leaves nothing to close.
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self, step: Coroutine[Any, Any, Any]) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        try:
            return self.loop.run_until_complete(asyncio.wait_for(step, self.timeout_s * 3))
        except TimeoutError:
            raise ProvError("transport", f"BLE: no answer from {self.device_name} in time") from None

    def connect(self) -> None:
        self._run(self._connect())

    async def _connect(self) -> None:
        found = await self.scanner.discover(timeout=self.timeout_s, return_adv=True)
        matches = [
            (device, adv)
            for device, adv in found.values()
            if self.device_name in {adv.local_name, device.name}
        ]
        if not matches:
            raise ProvError("transport", f"no BLE device named {self.device_name} is advertising")
        device, adv = matches[0]
        advertised = [str(u).lower() for u in (adv.service_uuids or [])]
        self.client = self.client_factory(device, timeout=self.timeout_s)
        try:
            await self.client.connect()
        except Exception as error:  # noqa: BLE001 - bleak's backends raise more than BleakError
            raise ProvError("transport", f"could not connect to {self.device_name}: {error}") from None
        self.endpoints = await self._lookup(advertised)

    def _candidates(self, advertised: list[str]) -> list[str]:
        if self.service_uuid:
            return [self.service_uuid]
        # esp_prov trusts the advertisement when it names exactly one service, else the default UUID.
        return advertised if len(advertised) == 1 else [*advertised, DEFAULT_SERVICE_UUID]

    async def _lookup(self, advertised: list[str]) -> dict[str, Any]:
        candidates = self._candidates(advertised)
        for service in self.client.services:
            if str(service.uuid).lower() not in candidates:
                continue
            names = await self._described(service)
            if all(name in names for name in REQUIRED):
                return names
            by_uuid = {str(c.uuid).lower(): c for c in service.characteristics}
            derived = {}
            for name, number in STANDARD_ENDPOINTS.items():
                char = by_uuid.get(characteristic_uuid(str(service.uuid), number))
                if char is not None:
                    derived[name] = char
            if all(name in derived for name in REQUIRED):
                return derived
        raise ProvError(
            "transport",
            f"{self.device_name} has no provisioning service (looked for {', '.join(candidates)})",
        )

    async def _described(self, service: Any) -> dict[str, Any]:
        names: dict[str, Any] = {}
        for char in service.characteristics:
            for descriptor in char.descriptors:
                if str(descriptor.uuid).lower() != USER_DESCRIPTION_UUID:
                    continue
                try:
                    raw = await self.client.read_gatt_descriptor(descriptor.handle)
                except Exception:  # noqa: BLE001, S112 - an unreadable descriptor is skipped, as esp_prov does
                    continue
                names[bytes(raw).decode(errors="replace").rstrip("\x00").lower()] = char
        return names

    def send(self, endpoint: str, data: bytes) -> bytes:
        char = self.endpoints.get(endpoint)
        if char is None:
            raise ProvError("device", f"{endpoint}: the device has no such BLE endpoint")
        return bytes(self._run(self._exchange(endpoint, char, data)))

    async def _exchange(self, endpoint: str, char: Any, data: bytes) -> bytes:
        try:
            await self.client.write_gatt_char(char, data, response=True)
        except Exception as error:  # noqa: BLE001 - bleak's backends raise more than BleakError
            # ESP-IDF answers a request its handler fails with an ATT error on the write.
            raise ProvError("device", f"{endpoint}: the device refused the request ({error})") from None
        try:
            return bytes(await self.client.read_gatt_char(char))
        except Exception as error:  # noqa: BLE001
            raise ProvError("transport", f"{endpoint}: reading the answer failed ({error})") from None

    def close(self) -> None:
        if self.loop is None:
            return
        if self.client is not None:
            # The link may already be gone; closing must not turn that into an error.
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.client.disconnect())
            self.client = None
        self.loop.close()
        self.loop = None
