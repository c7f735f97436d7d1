"""The machine's MQTT port over paho-mqtt, with the simulated world's broker faults applied.

MQTT 5 by default: ThingsBoard answers a bad token with reason 0x86 (bad user name or password) to
MQTT 5 clients, but folds it to 3.1.1 code 5 (not authorized) for older ones, which would read as
MQTT_CONNECT_UNAUTHORIZED instead of MQTT_CONNECT_BAD_CREDENTIALS.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from firmware.core import status as st

if TYPE_CHECKING:
    from firmware.sim.world import World


def closed_port() -> int:
    """A loopback port nobody listens on, for a real "connection refused"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PahoMqtt:
    def __init__(
        self,
        world: World,
        connect_timeout_s: float = 5.0,
        ack_timeout_s: float = 5.0,
        *,
        mqtt5: bool = True,
        keepalive_s: int = 30,
    ) -> None:
        self.world = world
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.mqtt5 = mqtt5
        self.keepalive_s = keepalive_s
        self._client: paho.Client | None = None
        self._inbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self._connack = threading.Event()
        self._reason = 0
        self._lost = False
        self._puback: dict[int, int] = {}

    # paho callbacks (paho's network thread)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._reason = int(reason.value)
        self._connack.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._lost = True

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self._inbox.append((str(message.topic), bytes(message.payload)))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        self._puback[mid] = int(reason.value)

    # the port

    def connect(self, host: str, port: int, username: str, client_id: str) -> None:
        self.disconnect()
        delay = self.world.server_delay_s
        if delay >= self.connect_timeout_s:
            time.sleep(self.connect_timeout_s)
            raise st.MqttFailure(st.MQTT_CONNECTION_TIMEOUT, "no CONNACK in time")
        time.sleep(delay)
        if self.world.broker_unreachable:
            port = closed_port()
        if self.world.bad_token and username != "provision":
            username = "revoked-" + username
        protocol = MQTTProtocolVersion.MQTTv5 if self.mqtt5 else MQTTProtocolVersion.MQTTv311
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, reconnect_on_failure=False
        )
        client.username_pw_set(username, None)
        client.connect_timeout = self.connect_timeout_s
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._connack.clear()
        self._lost = False
        self._inbox.clear()
        try:
            client.connect(host, port, keepalive=self.keepalive_s)
        except ConnectionRefusedError as error:
            raise st.MqttFailure(st.socket_title(st.REFUSED), str(error)) from None
        except TimeoutError as error:
            raise st.MqttFailure(st.socket_title(st.TIMEOUT), str(error)) from None
        except OSError as error:
            raise st.MqttFailure(st.socket_title(st.REFUSED), str(error)) from None
        client.loop_start()
        self._client = client
        if not self._connack.wait(self.connect_timeout_s):
            self.disconnect()
            raise st.MqttFailure(st.socket_title(st.TIMEOUT), "no CONNACK in time")
        if self._reason != 0:
            self.disconnect()
            title = st.connack_title(self._reason, mqtt5=True)
            raise st.MqttFailure(title, "CONNACK reason " + hex(self._reason))

    def subscribe(self, topic: str) -> None:
        client = self._require()
        result, _ = client.subscribe(topic, qos=1)
        if result != paho.MQTT_ERR_SUCCESS:
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "subscribe failed")

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        client = self._require()
        delay = self.world.server_delay_s
        info = client.publish(topic, payload, qos=qos)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "publish failed")
        if qos == 0:
            return
        if delay >= self.ack_timeout_s:
            time.sleep(self.ack_timeout_s)
            raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no PUBACK in time")
        time.sleep(delay)
        deadline = time.monotonic() + self.ack_timeout_s - delay
        while info.mid not in self._puback:
            if self._lost:
                raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "connection lost before PUBACK")
            if time.monotonic() >= deadline:
                raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no PUBACK in time")
            time.sleep(0.005)
        reason = self._puback.pop(info.mid)
        if reason >= 0x80:
            raise st.MqttFailure(st.SERVER_ERROR, "PUBACK reason " + hex(reason))

    def poll(self) -> list[tuple[str, bytes]]:
        if self._client is None or self._lost:
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "connection lost")
        out = []
        while self._inbox:
            out.append(self._inbox.popleft())
        return out

    def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _require(self) -> paho.Client:
        if self._client is None or self._lost:
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "not connected")
        return self._client
