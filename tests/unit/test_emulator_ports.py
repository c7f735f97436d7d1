"""Which ports `petit dev` gives its embedded emulator: flags, then what the last run used, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from petit import emulator_ports
from petit.emulator_ports import DEFAULT_HTTP_PORT, DEFAULT_MQTT_PORT, EmulatorPorts, PortsError

pytestmark = pytest.mark.unit

PATH = Path("var/thingsboard-emulator.ports.json")


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Ports some other process listens on; no real socket is probed."""
    busy: set[int] = set()
    monkeypatch.setattr(emulator_ports, "is_free", lambda _host, port: port not in busy)
    return busy


def choose(
    http: int | None = None, mqtt: int | None = None, remembered: EmulatorPorts | None = None
) -> EmulatorPorts:
    return emulator_ports.choose("127.0.0.1", http=http, mqtt=mqtt, remembered=remembered, path=PATH)


def test_defaults_stay_clear_of_a_real_thingsboard_and_mosquitto() -> None:
    assert {DEFAULT_HTTP_PORT, DEFAULT_MQTT_PORT}.isdisjoint({8080, 1883, 8000})
    assert DEFAULT_HTTP_PORT != DEFAULT_MQTT_PORT


def test_first_run_uses_the_defaults(taken: set[int]) -> None:
    assert choose() == EmulatorPorts(http=DEFAULT_HTTP_PORT, mqtt=DEFAULT_MQTT_PORT)


def test_a_taken_default_falls_back_to_any_free_port(taken: set[int]) -> None:
    taken.add(DEFAULT_MQTT_PORT)
    assert choose() == EmulatorPorts(http=DEFAULT_HTTP_PORT, mqtt=0)


def test_a_flagged_http_port_on_the_mqtt_default_moves_mqtt_not_the_flag(taken: set[int]) -> None:
    assert choose(http=DEFAULT_MQTT_PORT) == EmulatorPorts(http=DEFAULT_MQTT_PORT, mqtt=0)


def test_remembered_ports_are_reused(taken: set[int]) -> None:
    assert choose(remembered=EmulatorPorts(http=20001, mqtt=20002)) == EmulatorPorts(http=20001, mqtt=20002)


def test_a_taken_remembered_port_is_an_error_naming_the_flag(taken: set[int]) -> None:
    taken.add(20002)
    with pytest.raises(PortsError) as caught:
        choose(remembered=EmulatorPorts(http=20001, mqtt=20002))
    message = str(caught.value)
    assert "20002" in message
    assert "--tb-mqtt-port" in message
    assert str(PATH) in message


def test_flags_override_what_is_remembered(taken: set[int]) -> None:
    taken.add(20002)  # moving away from a taken port is what the flag is for
    chosen = choose(mqtt=20003, remembered=EmulatorPorts(http=20001, mqtt=20002))
    assert chosen == EmulatorPorts(http=20001, mqtt=20003)


def test_flag_zero_asks_the_os(taken: set[int]) -> None:
    assert choose(http=0, mqtt=0) == EmulatorPorts(http=0, mqtt=0)


def test_a_taken_flagged_port_is_an_error(taken: set[int]) -> None:
    taken.add(20001)
    with pytest.raises(PortsError, match="--tb-http-port"):
        choose(http=20001)


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ports.json"
    assert emulator_ports.load(path) is None
    emulator_ports.save(path, EmulatorPorts(http=20001, mqtt=20002))
    assert emulator_ports.load(path) == EmulatorPorts(http=20001, mqtt=20002)


@pytest.mark.parametrize("text", ["", "{}", '{"http": 1, "mqtt": "x"}', '{"http": 0, "mqtt": 2}', "[1, 2]"])
def test_a_damaged_file_is_an_error_not_a_silent_move(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ports.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PortsError, match="--tb-http-port"):
        emulator_ports.load(path)


def test_is_free_sees_a_listening_socket() -> None:
    import socket  # noqa: PLC0415 - the one real probe in this file

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert not emulator_ports.is_free("127.0.0.1", port)
