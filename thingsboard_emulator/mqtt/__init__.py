"""The emulator's device MQTT transport: ThingsBoard's v1 device topics over MQTT 3.1, 3.1.1 and 5."""

from thingsboard_emulator.mqtt.server import MqttServer

__all__ = ["MqttServer"]
