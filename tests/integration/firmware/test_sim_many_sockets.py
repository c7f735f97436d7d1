"""Large fleets push a simulator process past 1,024 file descriptors, where select()-based loops go blind."""

from __future__ import annotations

import resource
import socket
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from firmware.sim.mqtt_paho import PahoMqtt
from firmware.sim.world import World

if TYPE_CHECKING:
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration

_SELECT_LIMIT = 1024


def test_a_device_whose_socket_is_numbered_past_1024_still_connects(emulator: Emulator) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < _SELECT_LIMIT + 64:
        pytest.skip(f"the hard open-files limit ({hard}) cannot go past {_SELECT_LIMIT}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, _SELECT_LIMIT + 64), hard))
    held: list[socket.socket] = []
    try:
        # Occupy every low descriptor so the device's MQTT socket is numbered past select()'s limit.
        while not held or held[-1].fileno() < _SELECT_LIMIT:
            held.append(socket.socket())
        device = PahoMqtt(World(), connect_timeout_s=5)
        token = _device_token(emulator)
        device.connect("127.0.0.1", emulator.mqtt_port, token, "fd-test")
        try:
            assert device._require().socket().fileno() >= _SELECT_LIMIT
        finally:
            device.disconnect()
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _device_token(emulator: Emulator) -> str:
    with httpx.Client(base_url=emulator.http_url, timeout=10) as http:
        login = http.post(
            "/api/auth/login", json={"username": "tenant@thingsboard.org", "password": "tenant"}
        )
        headers = {"X-Authorization": f"Bearer {login.json()['token']}"}
        device = http.post("/api/device", json={"name": f"fd-{uuid.uuid4().hex[:8]}"}, headers=headers)
        device_id = device.json()["id"]["id"]
        credentials = http.get(f"/api/device/{device_id}/credentials", headers=headers)
        token: str = credentials.json()["credentialsId"]
        return token
