"""Simulated devices: the firmware's state machine with simulated Wi-Fi and paho MQTT, each serving
the device-local API on its own loopback port.

All HTTP servers share one asyncio loop on a background thread; every device's MQTT socket is served by
one shared epoll thread (mqtt_paho); each device's ``step()`` loop runs on its own thread, because MQTT
calls block (as they do on the real device).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.core import http, machine, protocomm, wifiprov
from firmware.sim.crypto import HostCrypto
from firmware.sim.mqtt_paho import PahoMqtt
from firmware.sim.web import HttpxWeb
from firmware.sim.world import Clock, FileStore, MemoryStore, Sensors, SimWifi

if TYPE_CHECKING:
    from collections.abc import Callable

    from firmware.sim.world import World

REQUEST_TIMEOUT_S = 10.0
CAPABILITIES = ["telemetry", "rpc", "shared-attributes", "claim", "provision", "pairKey", "http-gateway"]


def make_identity(index: int, mqtt_host: str, mqtt_port: int) -> dict[str, Any]:
    raw = uuid.uuid4().bytes[:5]
    # 02:… is a locally administered unicast MAC, never a real vendor's.
    mac = ":".join(f"{b:02X}" for b in (0x02, *raw))
    return {
        "deviceId": "petit-sim-" + mac.replace(":", "").lower(),
        "mac": mac,
        "firmwareVersion": machine.FIRMWARE_VERSION,
        "model": "petit-sim",
        "capabilities": list(CAPABILITIES),
        "mqttHost": mqtt_host,
        "mqttPort": mqtt_port,
        "index": index,
    }


def make_security(options: dict[str, Any], crypto: Any = None) -> Callable[[], Any]:
    """A factory of fresh protocomm security instances from the simulator's --sec-ver/--pop/--sec2-* flags."""
    crypto = crypto or HostCrypto()
    sec_ver = int(options.get("sec_ver", 1))
    if sec_ver == 0:
        return protocomm.Security0
    if sec_ver == 1:
        pop = str(options.get("pop") or "").encode()
        return lambda: protocomm.Security1(crypto, pop)
    if sec_ver == 2:
        username = str(options.get("sec2_username") or "wifiprov").encode()
        password = str(options.get("sec2_password") or options.get("pop") or "").encode()
        if not password:
            raise ValueError("security 2 needs a password (--sec2-password or --pop)")
        salt = options.get("sec2_salt") or crypto.random(16)
        # esp_prov hashes the salt as a big number, dropping leading zero bytes; the device hashes all 16.
        salt = bytes([salt[0] or 1]) + bytes(salt[1:])
        verifier = protocomm.srp_verifier(crypto, username, password, salt)
        return lambda: protocomm.Security2(crypto, salt, verifier)
    raise ValueError(f"unknown security version {sec_ver}")


class SimDevice:
    def __init__(  # noqa: PLR0917 - options mirror the CLI flags
        self,
        world: World,
        index: int = 0,
        mqtt_host: str = "127.0.0.1",
        mqtt_port: int = 1883,
        settings: dict[str, float] | None = None,
        state_dir: str | None = None,
        ack_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        *,
        mqtt5: bool = True,
        provisioning: dict[str, Any] | None = None,
    ) -> None:
        self.world = world
        # ESP-IDF provisioning (protocomm) beside the local API: {"sec_ver", "pop", "sec2_username", ...}.
        self.provisioning = provisioning
        self.crypto = HostCrypto()
        self._security = make_security(provisioning, self.crypto) if provisioning is not None else None
        self.comm: protocomm.Protocomm | None = None
        self.prov: wifiprov.WifiProv | None = None
        self.identity = make_identity(index, mqtt_host, mqtt_port)
        if state_dir:
            self.store: MemoryStore = FileStore(str(Path(state_dir) / f"device-{index}.json"))
        else:
            self.store = MemoryStore()
        self.wifi = SimWifi(world)
        self.mqtt = PahoMqtt(
            world, connect_timeout_s=connect_timeout_s, ack_timeout_s=ack_timeout_s, mqtt5=mqtt5
        )
        self.settings = settings
        # What the factory flashed (firmware.sim.factory); shared with every state machine a reboot makes.
        self.factory: dict[str, Any] = {}
        self.port = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.device = self._new_device()

    def _new_device(self) -> machine.Device:
        rng = random.Random()  # noqa: S311 - reconnect jitter, not a secret
        device = machine.Device(
            self.identity,
            self.wifi,
            self.mqtt,
            self.store,
            Clock(),
            sensors=Sensors(self.identity["index"]),
            settings=self.settings,
            jitter=lambda upper: rng.uniform(0, upper),
            web=HttpxWeb(self.world, timeout_s=self.mqtt.ack_timeout_s),
            factory=self.factory,
        )
        device.wake = self._wake.set
        if self._security is not None and self.provisioning is not None:
            self.comm, self.prov = wifiprov.build(
                device,
                self._security,
                Clock(),
                self.crypto.random,
                self.provisioning.get("limits"),
                has_pop=bool(self.provisioning.get("pop")),
            )
        return device

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, port: int = 0) -> None:
        """Open the local API on this loop (call on the fleet's loop)."""

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                # A client that opens a connection and says nothing must not hold it forever.
                await asyncio.wait_for(http.serve(self.device, reader, writer, self.comm), REQUEST_TIMEOUT_S)
            except TimeoutError:
                writer.close()

        self._server = await asyncio.start_server(on_connection, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def start(self) -> None:
        self._stop.clear()
        self.mqtt.resume()
        name = "sim-" + self.identity["deviceId"]
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.device.step()
            if delay > 0:
                self._wake.wait(min(delay, 1.0))
                self._wake.clear()

    def stop(self) -> None:
        self.request_stop()
        self.join(time.monotonic() + 10)

    def request_stop(self) -> None:
        """Tell the step thread to finish, cutting short any MQTT wait it is in; returns at once."""
        self._stop.set()
        self._wake.set()
        self.mqtt.cancel()

    def join(self, deadline: float) -> None:
        """Wait for the step thread until ``deadline`` (monotonic), then drop the MQTT link.

        A thread still blocked in a socket connect (a broker host that drops packets) is left behind:
        it is a daemon, and the connect's own timeout ends it.
        """
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self._thread = None
        self.mqtt.disconnect()

    def reboot(self) -> None:
        """Power-cycle: a fresh state machine over the same persistent store."""
        self.stop()
        self.wifi.disconnect()
        self.device = self._new_device()
        self.start()


class Fleet:
    """Many simulated devices on one background event loop; ``with Fleet(...) as fleet``."""

    def __init__(self, world: World, **device_options: Any) -> None:
        self.world = world
        self.device_options = device_options
        self.devices: list[SimDevice] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-http", daemon=True)

    def __enter__(self) -> Fleet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spawn(
        self,
        count: int = 1,
        base_port: int = 0,
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
        **overrides: Any,
    ) -> list[SimDevice]:
        """Start ``count`` devices; stops early once ``stop`` is set (a large fleet takes a while).
        ``overrides`` replace the fleet's device options for these devices (e.g. ``provisioning``)."""
        created = []
        for i in range(count):
            if stop is not None and stop.is_set():
                break
            device = SimDevice(self.world, index=len(self.devices), **{**self.device_options, **overrides})
            port = base_port + i if base_port else 0
            asyncio.run_coroutine_threadsafe(device.serve(port), self._loop).result(timeout=10)
            device.start()
            self.devices.append(device)
            created.append(device)
            if progress is not None:
                progress(i + 1, count)
        return created

    def close(self, timeout_s: float = 3.0) -> None:
        """Stop every device and server within about ``timeout_s``, whatever state the devices are in."""
        # All at once, then one shared deadline: stopping devices one by one let the rest keep retrying a
        # dead broker meanwhile, each blocking connect adding its timeout to the shutdown.
        for device in self.devices:
            device.request_stop()
        deadline = time.monotonic() + timeout_s
        for device in self.devices:
            device.join(deadline)
        if self._thread.is_alive():

            async def close_servers() -> None:
                await asyncio.gather(*(device.close_server() for device in self.devices))

            future = asyncio.run_coroutine_threadsafe(close_servers(), self._loop)
            with contextlib.suppress(TimeoutError):
                future.result(timeout=max(0.1, deadline - time.monotonic()))
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=max(0.1, deadline - time.monotonic()))
        if not self._thread.is_alive():
            self._loop.close()
        self.devices = []
