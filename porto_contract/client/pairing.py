"""App-assisted pairing as the app performs it (porto_contract/device/pairing.md): StartPairing, hand the keys
to the device over its local API, then watch both sides until petit says completed or either side fails."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

from porto_contract.client import models as m

if TYPE_CHECKING:
    from collections.abc import Callable

    from porto_contract.client.api import PortoClient
    from porto_contract.client.device import DeviceClient


class PairingFailedError(Exception):
    """The pairing ended without a device: ``reason`` is the device's error title or petit's reason."""

    def __init__(
        self, reason: str, detail: str, pairing: m.PairingRead | None, status: m.DeviceStatus | None
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.pairing = pairing
        self.device_status = status


def pair_device(
    porto: PortoClient,
    device: DeviceClient,
    *,
    name: str,
    ssid: str,
    password: str,
    mqtt_host: str | None = None,
    mqtt_port: int | None = None,
    timeout_s: float = 60.0,
    poll_s: float = 0.1,
    on_progress: Callable[[str], None] | None = None,
) -> m.PairingRead:
    """Pair ``device`` as ``name``; returns the completed pairing or raises PairingFailedError.

    A device that reports status 5 or 6 ends the attempt at once, with its title: seed 001 v2 keeps the
    device in setup mode, so the user can fix the password and pair again.
    """

    def say(text: str) -> None:
        if on_progress is not None:
            on_progress(text)

    started = porto.start_pairing(name)
    say(f"pairing {started.pairing_id} started; sending Wi-Fi and keys to the device")
    try:
        return _follow(porto, device, started, ssid, password, mqtt_host, mqtt_port, timeout_s, poll_s, say)
    except BaseException as exc:
        if isinstance(exc, PairingFailedError) and exc.pairing is not None and exc.pairing.finished:
            raise  # petit closed it already (and removed its reserved device)
        # An attempt that ends without a device must not leave its reservation behind until it expires: petit
        # deletes the reserved device at once.
        try:
            porto.cancel_pairing(started.pairing_id)
        except Exception:  # noqa: BLE001 - best effort; petit's expiry removes it anyway
            say("could not cancel the pairing; petit removes it when it expires")
        raise


def _follow(  # noqa: PLR0917 - the pairing's whole context
    porto: PortoClient,
    device: DeviceClient,
    started: m.PairingStarted,
    ssid: str,
    password: str,
    mqtt_host: str | None,
    mqtt_port: int | None,
    timeout_s: float,
    poll_s: float,
    say: Callable[[str], None],
) -> m.PairingRead:
    config = m.ConfigData(
        ssid=ssid,
        password=password,
        owner_key=started.owner_key,
        pair_key=started.pair_key,
        access_token=started.access_token,
        # The broker address petit reports wins over the firmware's built-in one unless the caller overrides.
        mqtt_host=mqtt_host or started.mqtt_host,
        mqtt_port=mqtt_port or started.mqtt_port,
    )
    device.configure(config)
    deadline = time.monotonic() + timeout_s
    last_device = -1
    last_state = started.state
    status: m.DeviceStatus | None = None
    while True:
        try:
            status = device.status()
        except httpx.TransportError:
            # The device may drop its access point once it is online; petit stays the source of truth.
            status = None
        if status is not None and status.status_code != last_device:
            last_device = status.status_code
            say(f"device: {status.status_code} {status.description}")
        if status is not None and status.failed:
            pairing = porto.get_pairing(started.pairing_id)
            raise PairingFailedError(status.title, status.description, pairing, status)
        pairing = porto.get_pairing(started.pairing_id)
        if pairing.state != last_state:
            last_state = pairing.state
            say(f"petit: {pairing.state}")
        if pairing.state == "completed":
            return pairing
        if pairing.finished:
            raise PairingFailedError(pairing.failure_reason or pairing.state, "", pairing, status)
        if time.monotonic() > deadline:
            raise PairingFailedError("timeout", f"no outcome within {timeout_s:g} s", pairing, status)
        time.sleep(poll_s)
