"""CONNACK codes and socket errors onto PubSubClient's state() names, exactly."""

from __future__ import annotations

import pytest

from firmware.core import status as st

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "title"),
    [
        (1, "MQTT_CONNECT_BAD_PROTOCOL"),
        (2, "MQTT_CONNECT_BAD_CLIENT_ID"),
        (3, "MQTT_CONNECT_UNAVAILABLE"),
        (4, "MQTT_CONNECT_BAD_CREDENTIALS"),
        (5, "MQTT_CONNECT_UNAUTHORIZED"),
        (6, "MQTT_CONNECT_FAILED"),
    ],
)
def test_mqtt_311_connack(code: int, title: str) -> None:
    assert st.connack_title(code) == title
    if title != "MQTT_CONNECT_FAILED":
        assert st.PUBSUB_STATE[title] == code  # PubSubClient numbers its positive states by the CONNACK code


@pytest.mark.parametrize(
    ("reason", "title"),
    [
        (0x84, "MQTT_CONNECT_BAD_PROTOCOL"),
        (0x85, "MQTT_CONNECT_BAD_CLIENT_ID"),
        (0x88, "MQTT_CONNECT_UNAVAILABLE"),
        (0x89, "MQTT_CONNECT_UNAVAILABLE"),
        (0x86, "MQTT_CONNECT_BAD_CREDENTIALS"),
        (0x8C, "MQTT_CONNECT_BAD_CREDENTIALS"),
        (0x87, "MQTT_CONNECT_UNAUTHORIZED"),
        (0x8A, "MQTT_CONNECT_UNAUTHORIZED"),
        (0x80, "MQTT_CONNECT_FAILED"),
        (0x95, "MQTT_CONNECT_FAILED"),
    ],
)
def test_mqtt_5_reason_codes(reason: int, title: str) -> None:
    assert st.connack_title(reason, mqtt5=True) == title


def test_socket_errors() -> None:
    assert st.socket_title(st.REFUSED) == "MQTT_CONNECT_FAILED"
    assert st.socket_title(st.TIMEOUT) == "MQTT_CONNECTION_TIMEOUT"
    assert st.socket_title(st.DROPPED) == "MQTT_CONNECTION_LOST"
    assert st.socket_title(st.CLOSED) == "MQTT_DISCONNECTED"


def test_pubsub_states_are_the_arduino_numbers() -> None:
    assert st.PUBSUB_STATE == {
        "MQTT_CONNECTION_TIMEOUT": -4,
        "MQTT_CONNECTION_LOST": -3,
        "MQTT_CONNECT_FAILED": -2,
        "MQTT_DISCONNECTED": -1,
        "MQTT_CONNECT_BAD_PROTOCOL": 1,
        "MQTT_CONNECT_BAD_CLIENT_ID": 2,
        "MQTT_CONNECT_UNAVAILABLE": 3,
        "MQTT_CONNECT_BAD_CREDENTIALS": 4,
        "MQTT_CONNECT_UNAUTHORIZED": 5,
    }
