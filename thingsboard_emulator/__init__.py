"""A local ThingsBoard CE 4.3 look-alike for development and tests: REST, device MQTT/HTTP and WebSocket."""

from thingsboard_emulator.runner import Emulator

__all__ = ["Emulator"]
