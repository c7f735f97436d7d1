"""A simulated Wi-Fi world shared by a fleet: networks with passwords, and switchable faults.

Faults (all live, so a test can flip them while devices run):
- wrong password: the app sends a password the network does not have (nothing to switch).
- access point gone: ``world.set_up(ssid, False)``; joined devices lose the network.
- broker unreachable: ``world.broker_unreachable = True``; connects go to a closed port (real ECONNREFUSED).
- bad token: ``world.bad_token = True``; devices present a token the server does not know.
- slow server: ``world.server_delay_s``; every MQTT operation waits that long first.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from firmware.core import machine

# Particle's "sec" values (seed 000) for the security modes we simulate.
SEC_OPEN = 0
SEC_WPA2_AES = 4194308


class Network:
    def __init__(self, ssid: str, password: str = "", rssi: int = -55, channel: int = 6) -> None:
        self.ssid = ssid
        self.password = password
        self.rssi = rssi
        self.channel = channel
        self.up = True

    def scan_entry(self) -> dict[str, Any]:
        sec = SEC_WPA2_AES if self.password else SEC_OPEN
        return {"ssid": self.ssid, "rssi": self.rssi, "sec": sec, "ch": self.channel, "mdr": 144400}


class World:
    def __init__(self, join_delay_s: float = 0.05) -> None:
        self.networks: dict[str, Network] = {}
        self.join_delay_s = join_delay_s
        self.broker_unreachable = False
        self.bad_token = False
        self.server_delay_s = 0.0
        self._lock = threading.Lock()

    def add(self, ssid: str, password: str = "", rssi: int = -55, channel: int = 6) -> Network:
        with self._lock:
            network = Network(ssid, password, rssi, channel)
            self.networks[ssid] = network
            return network

    def set_up(self, ssid: str, *, up: bool) -> None:
        self.networks[ssid].up = up

    def visible(self) -> list[Network]:
        with self._lock:
            return [n for n in self.networks.values() if n.up]


class SimWifi:
    """The device's radio: STA joins take ``join_delay_s``; the AP flag is only recorded."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.ap_active = False
        self._ssid = ""
        self._password = ""
        self._since = 0.0
        self._joining = False

    def begin(self, ssid: str, password: str) -> None:
        self._ssid, self._password = ssid, password
        self._since = time.monotonic()
        self._joining = True

    def status(self) -> str:
        if not self._joining:
            return machine.WIFI_IDLE
        if time.monotonic() - self._since < self.world.join_delay_s:
            return machine.WIFI_CONNECTING
        network = self.world.networks.get(self._ssid)
        if network is None or not network.up:
            return machine.WIFI_NO_AP
        if network.password != self._password:
            return machine.WIFI_WRONG_PASSWORD
        return machine.WIFI_GOT_IP

    def connected(self) -> bool:
        return self.status() == machine.WIFI_GOT_IP

    def scan(self) -> list[dict[str, Any]]:
        return [n.scan_entry() for n in self.world.visible()]

    def ip(self) -> str:
        """The station address the simulated DHCP server hands out (provisioning's GetStatus shows it)."""
        return "192.168.1.23" if self.connected() else ""

    def rssi(self) -> int:
        network = self.world.networks.get(self._ssid)
        return network.rssi if network else -100

    def disconnect(self) -> None:
        self._joining = False

    def set_ap(self, active: bool) -> None:  # noqa: FBT001 - the port's signature (network.WLAN.active)
        self.ap_active = active


class MemoryStore:
    """Credentials that survive a simulated reboot (the object outlives the Device)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return dict(self.data) if self.data else None

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)

    def clear(self) -> None:
        self.data = None


class FileStore(MemoryStore):
    """Credentials in a JSON file, for simulated devices that survive a simulator restart."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        if Path(path).exists():
            self.data = json.loads(Path(path).read_text(encoding="utf-8"))

    def save(self, data: dict[str, Any]) -> None:
        super().save(data)
        tmp = self.path + ".tmp"
        # The file holds the Wi-Fi password and access token: owner-only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        Path(tmp).replace(self.path)

    def clear(self) -> None:
        super().clear()
        Path(self.path).unlink(missing_ok=True)


class Clock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Sensors:
    """A plausible room: temperature and humidity drifting slowly."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)  # noqa: S311 - simulated sensor noise
        self.temperature = 21.0 + self._random.uniform(-2, 2)
        self.humidity = 45.0 + self._random.uniform(-5, 5)

    def read(self) -> dict[str, Any]:
        self.temperature += self._random.uniform(-0.1, 0.1)
        self.humidity += self._random.uniform(-0.3, 0.3)
        return {"temperature": round(self.temperature, 2), "humidity": round(self.humidity, 1)}
