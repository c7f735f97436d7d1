"""ThingsBoard's v1 device topics (TB ``MqttTopics``) and the codes its transport answers with."""

from __future__ import annotations

TELEMETRY = "v1/devices/me/telemetry"
ATTRIBUTES = "v1/devices/me/attributes"
ATTRIBUTES_REQUEST_PREFIX = "v1/devices/me/attributes/request/"
ATTRIBUTES_RESPONSE_PREFIX = "v1/devices/me/attributes/response/"
ATTRIBUTES_RESPONSE_SUB = "v1/devices/me/attributes/response/+"
RPC_REQUEST_PREFIX = "v1/devices/me/rpc/request/"
RPC_REQUEST_SUB = "v1/devices/me/rpc/request/+"
RPC_RESPONSE_PREFIX = "v1/devices/me/rpc/response/"
RPC_RESPONSE_SUB = "v1/devices/me/rpc/response/+"
CLAIM = "v1/devices/me/claim"

PROVISION_USERNAME = "provision"
PROVISION_REQUEST = "/provision/request"
PROVISION_RESPONSE = "/provision/response"

SESSION_LIMITS_METHOD = "getSessionLimits"

# Filters TB grants without registering anything with the device actor (responses, firmware, gateway);
# the emulator serves none of the gateway or firmware flows, but a client subscribing to them is not refused.
PASSIVE_SUBSCRIPTIONS = frozenset(
    {
        ATTRIBUTES_RESPONSE_SUB,
        RPC_RESPONSE_SUB,
        "v2/fw/response/+",
        "v2/fw/error",
        "v2/sw/response/+",
        "v2/sw/error",
        "v1/gateway/attributes",
        "v1/gateway/rpc",
        "v1/gateway/attributes/response",
    }
)

# CONNACK codes: TB decides in MQTT 5 terms, ReturnCodeResolver maps them down for 3.x clients.
CONNACK_ACCEPTED = 0x00
CONNACK_CLIENT_ID_NOT_VALID = 0x85
CONNACK_BAD_USERNAME_OR_PASSWORD = 0x86
CONNACK_NOT_AUTHORIZED = 0x87
CONNACK_SERVER_UNAVAILABLE = 0x88
CONNACK_V3 = {
    CONNACK_ACCEPTED: 0x00,
    CONNACK_CLIENT_ID_NOT_VALID: 0x02,
    CONNACK_BAD_USERNAME_OR_PASSWORD: 0x05,
    CONNACK_NOT_AUTHORIZED: 0x05,
    CONNACK_SERVER_UNAVAILABLE: 0x03,
}

SUBACK_FAILURE_V3 = 0x80
SUBACK_TOPIC_FILTER_INVALID = 0x8F
UNSUBACK_SUCCESS = 0x00
UNSUBACK_NO_SUBSCRIPTION_EXISTED = 0x11
UNSUBACK_TOPIC_FILTER_INVALID = 0x8F

PUBACK_IMPLEMENTATION_SPECIFIC_ERROR = 0x83
PUBACK_TOPIC_NAME_INVALID = 0x90
PUBACK_PAYLOAD_FORMAT_INVALID = 0x99

DISCONNECT_NORMAL = 0x00
DISCONNECT_MALFORMED_PACKET = 0x81
DISCONNECT_PROTOCOL_ERROR = 0x82
DISCONNECT_IMPLEMENTATION_SPECIFIC_ERROR = 0x83
DISCONNECT_KEEP_ALIVE_TIMEOUT = 0x8D
DISCONNECT_TOPIC_NAME_INVALID = 0x90
DISCONNECT_ADMINISTRATIVE_ACTION = 0x98
DISCONNECT_PAYLOAD_FORMAT_INVALID = 0x99
