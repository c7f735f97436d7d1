"""Scripted ports for driving firmware.core.machine.Device without a network or real time."""

from __future__ import annotations

import json
from typing import Any

from firmware.core import machine
from firmware.core import status as st


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeWifi:
    """``outcome`` is what status() reports once a join was begun."""

    def __init__(self, outcome: str = machine.WIFI_GOT_IP) -> None:
        self.outcome = outcome
        self.joined: tuple[str, str] | None = None
        self.ap_active = False

    def begin(self, ssid: str, password: str) -> None:
        self.joined = (ssid, password)

    def status(self) -> str:
        return self.outcome if self.joined else machine.WIFI_IDLE

    def scan(self) -> list[dict[str, Any]]:
        return [{"ssid": "home", "rssi": -50, "sec": 4194308, "ch": 6, "mdr": 144400}]

    def rssi(self) -> int:
        return -50

    def disconnect(self) -> None:
        self.joined = None

    def set_ap(self, active: bool) -> None:
        self.ap_active = active


class FakeMqtt:
    """Records traffic; ``fail_connect`` / ``fail_publish`` make the next calls raise MqttFailure."""

    def __init__(self) -> None:
        self.connected_as: str | None = None
        self.connects: list[tuple[str, int, str, str]] = []
        self.published: list[tuple[str, Any, int]] = []
        self.subscribed: list[str] = []
        self.inbox: list[tuple[str, bytes]] = []
        self.fail_connect: str | None = None
        self.fail_publish: str | None = None
        self.drop: bool = False

    def connect(self, host: str, port: int, username: str, client_id: str) -> None:
        self.connects.append((host, port, username, client_id))
        if self.fail_connect:
            raise st.MqttFailure(self.fail_connect, "scripted")
        self.connected_as = username
        self.drop = False

    def subscribe(self, topic: str) -> None:
        self.subscribed.append(topic)

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        if self.fail_publish:
            raise st.MqttFailure(self.fail_publish, "scripted")
        self.published.append((topic, json.loads(payload), qos))

    def poll(self) -> list[tuple[str, bytes]]:
        if self.drop or self.connected_as is None:
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "scripted")
        out, self.inbox = self.inbox, []
        return out

    def disconnect(self) -> None:
        self.connected_as = None

    def on(self, topic: str) -> list[Any]:
        return [payload for t, payload, _ in self.published if t == topic]


class FakeStore:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data

    def load(self) -> dict[str, Any] | None:
        return dict(self.data) if self.data else None

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)

    def clear(self) -> None:
        self.data = None


IDENTITY = {
    "deviceId": "petit-test-01",
    "mac": "02:AA:BB:CC:DD:EE",
    "firmwareVersion": "1.0.0",
    "model": "test",
    "capabilities": ["telemetry"],
    "mqttHost": "broker.local",
    "mqttPort": 1883,
}


class Rig:
    """A device with fake ports; ``run()`` steps it (advancing the fake clock) until a condition holds."""

    def __init__(self, store: FakeStore | None = None, **settings: float) -> None:
        self.clock = FakeClock()
        self.wifi = FakeWifi()
        self.mqtt = FakeMqtt()
        self.store = store or FakeStore()
        base = {"backoff_base_s": 1.0, "backoff_max_s": 8.0, "telemetry_interval_s": 10.0}
        base.update(settings)
        self.device = machine.Device(
            dict(IDENTITY), self.wifi, self.mqtt, self.store, self.clock, settings=base
        )

    def step(self) -> float:
        delay = self.device.step()
        self.clock.t += delay
        return delay

    def run(self, until: Any, max_steps: int = 5000) -> None:
        for _ in range(max_steps):
            if until():
                return
            self.step()
        raise AssertionError("condition not reached")

    def configure(self, **overrides: Any) -> dict[str, Any]:
        config = {
            "ssid": "home",
            "password": "correct-horse-9",
            "pairKey": "pk-1",
            "ownerKey": "owner-key-1",
            "accessToken": "token-1",
        }
        config.update(overrides)
        self.device.submit_config(dict(config))
        return config

    def settle(self) -> dict[str, Any]:
        self.run(lambda: self.device.status()["statusCode"] >= 4 and not self.device.busy())
        return self.device.status()
