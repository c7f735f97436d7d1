"""petit's ThingsBoard settings for a test's emulator: one place for the tenant login and MQTT endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thingsboard_emulator import Emulator


def thingsboard_settings(emulator: Emulator, *, request_timeout_s: float = 2.0) -> dict[str, Any]:
    """The ``thingsboard`` settings group pointing petit at ``emulator`` as its tenant administrator."""
    return {
        "url": emulator.http_url,
        "username": "tenant@thingsboard.org",
        "password": "tenant",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": emulator.mqtt_port,
        "request_timeout_s": request_timeout_s,
    }
