"""``GET /info`` on a simulated device names the broker it actually talks to, not its built-in default."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from firmware.sim.fleet import Fleet
from tests.integration.firmware.conftest import FAST, config, settled

if TYPE_CHECKING:
    from firmware.sim.world import World
    from tests.integration.firmware.conftest import Rest
    from thingsboard_emulator import Emulator

pytestmark = pytest.mark.integration


def test_info_reports_the_broker_the_config_named(emulator: Emulator, world: World, rest: Rest) -> None:
    # As `python -m firmware.sim` without --mqtt-port: built in 1883, while petit's pairing names the
    # emulator's port.
    with Fleet(world, mqtt_port=1883, settings=dict(FAST), ack_timeout_s=1.0, connect_timeout_s=1.0) as fleet:
        device = fleet.spawn(1)[0]
        before = httpx.get(device.local_url + "/info", timeout=5).json()
        assert before["mqttPort"] == 1883
        _, _, token = rest.create_device()
        body = config(token, mqttHost="127.0.0.1", mqttPort=emulator.mqtt_port)
        assert httpx.post(device.local_url + "/config/data", json=body, timeout=5).status_code == 202
        assert settled(device)["statusCode"] == 4
        after = httpx.get(device.local_url + "/info", timeout=5).json()
        assert (after["mqttHost"], after["mqttPort"]) == ("127.0.0.1", emulator.mqtt_port)
        assert after["paired"] is True
