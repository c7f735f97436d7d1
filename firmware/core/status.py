"""Status codes and error titles of the device-local API (seed 001), and the MQTT error mapping.

The MQTT_* titles are Arduino PubSubClient's ``state()`` names, because the first firmware was an
Arduino sketch and the app already shows them. Everything here is plain data so that the same module
runs under CPython and MicroPython.
"""

# statusCode values of GET /config/current-status (seed 001). 0 is "no configuration received yet".
IDLE = 0
WIFI_CONNECTING = 1
WIFI_CONNECTED = 2
SERVER_CONNECTING = 3
CONFIG_FINISHED = 4
WIFI_ERROR = 5
SERVER_FAILED = 6

STATUS_TEXT = {
    IDLE: "waiting for configuration",
    WIFI_CONNECTING: "connecting to wifi",
    WIFI_CONNECTED: "connected to wifi",
    SERVER_CONNECTING: "connecting to server",
    CONFIG_FINISHED: "config finished",
    WIFI_ERROR: "error in connecting to wifi",
    SERVER_FAILED: "error in connecting to server",
}

# Wi-Fi error titles. Only the first is in seed 001; the second is our extension so that an access
# point that vanished is not reported to the user as a wrong password.
WIFI_CONNECT_BAD_CREDENTIALS = "WIFI_CONNECT_BAD_CREDENTIALS"
WIFI_NO_AP_FOUND = "WIFI_NO_AP_FOUND"

# PubSubClient state() values (knolleary/pubsubclient src/PubSubClient.h).
MQTT_CONNECTION_TIMEOUT = "MQTT_CONNECTION_TIMEOUT"  # -4
MQTT_CONNECTION_LOST = "MQTT_CONNECTION_LOST"  # -3
MQTT_CONNECT_FAILED = "MQTT_CONNECT_FAILED"  # -2
MQTT_DISCONNECTED = "MQTT_DISCONNECTED"  # -1
MQTT_CONNECT_BAD_PROTOCOL = "MQTT_CONNECT_BAD_PROTOCOL"  # 1
MQTT_CONNECT_BAD_CLIENT_ID = "MQTT_CONNECT_BAD_CLIENT_ID"  # 2
MQTT_CONNECT_UNAVAILABLE = "MQTT_CONNECT_UNAVAILABLE"  # 3
MQTT_CONNECT_BAD_CREDENTIALS = "MQTT_CONNECT_BAD_CREDENTIALS"  # 4
MQTT_CONNECT_UNAUTHORIZED = "MQTT_CONNECT_UNAUTHORIZED"  # 5

SERVER_REQUEST_TIMEOUT = "SERVER_REQUEST_TIMEOUT"
SERVER_ERROR = "SERVER_ERROR"

PUBSUB_STATE = {
    MQTT_CONNECTION_TIMEOUT: -4,
    MQTT_CONNECTION_LOST: -3,
    MQTT_CONNECT_FAILED: -2,
    MQTT_DISCONNECTED: -1,
    MQTT_CONNECT_BAD_PROTOCOL: 1,
    MQTT_CONNECT_BAD_CLIENT_ID: 2,
    MQTT_CONNECT_UNAVAILABLE: 3,
    MQTT_CONNECT_BAD_CREDENTIALS: 4,
    MQTT_CONNECT_UNAUTHORIZED: 5,
}

SERVER_TITLES = tuple(PUBSUB_STATE) + (SERVER_REQUEST_TIMEOUT, SERVER_ERROR)  # noqa: RUF005 - MicroPython
WIFI_TITLES = (WIFI_CONNECT_BAD_CREDENTIALS, WIFI_NO_AP_FOUND)

# MQTT 3.1.1 CONNACK return codes 1..5 are exactly PubSubClient's positive states.
_CONNACK_V3 = {
    1: MQTT_CONNECT_BAD_PROTOCOL,
    2: MQTT_CONNECT_BAD_CLIENT_ID,
    3: MQTT_CONNECT_UNAVAILABLE,
    4: MQTT_CONNECT_BAD_CREDENTIALS,
    5: MQTT_CONNECT_UNAUTHORIZED,
}

# MQTT 5 CONNACK reason codes, folded onto the same names by meaning (OASIS MQTT 5.0 §3.2.2.2).
_CONNACK_V5 = {
    0x84: MQTT_CONNECT_BAD_PROTOCOL,  # Unsupported Protocol Version
    0x85: MQTT_CONNECT_BAD_CLIENT_ID,  # Client Identifier not valid
    0x88: MQTT_CONNECT_UNAVAILABLE,  # Server unavailable
    0x89: MQTT_CONNECT_UNAVAILABLE,  # Server busy
    0x9F: MQTT_CONNECT_UNAVAILABLE,  # Connection rate exceeded
    0x86: MQTT_CONNECT_BAD_CREDENTIALS,  # Bad User Name or Password
    0x8C: MQTT_CONNECT_BAD_CREDENTIALS,  # Bad authentication method
    0x87: MQTT_CONNECT_UNAUTHORIZED,  # Not authorized
    0x8A: MQTT_CONNECT_UNAUTHORIZED,  # Banned
}


def connack_title(code: int, mqtt5: bool = False) -> str:  # noqa: FBT001, FBT002 - MicroPython-friendly
    """The PubSubClient title for a refused CONNACK; anything unnamed is a generic connect failure."""
    table = _CONNACK_V5 if mqtt5 else _CONNACK_V3
    return table.get(code, MQTT_CONNECT_FAILED)


# Socket-level outcomes, named by the transport adapters (paho, the MicroPython client).
REFUSED = "refused"
TIMEOUT = "timeout"
DROPPED = "dropped"
CLOSED = "closed"

_SOCKET = {
    REFUSED: MQTT_CONNECT_FAILED,
    TIMEOUT: MQTT_CONNECTION_TIMEOUT,
    DROPPED: MQTT_CONNECTION_LOST,
    CLOSED: MQTT_DISCONNECTED,
}


def socket_title(kind: str) -> str:
    """refused → MQTT_CONNECT_FAILED, timeout → MQTT_CONNECTION_TIMEOUT, drop → MQTT_CONNECTION_LOST."""
    return _SOCKET.get(kind, MQTT_CONNECT_FAILED)


class MqttFailure(Exception):  # noqa: N818 - a reported outcome, carried as an exception
    """A transport adapter's way to report a failure; ``title`` is one of SERVER_TITLES."""

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.title = title
        self.detail = detail
