"""The machine's MQTT port over paho-mqtt, with the simulated world's broker faults applied.

MQTT 5 by default: ThingsBoard answers a bad token with reason 0x86 (bad user name or password) to
MQTT 5 clients, but folds it to 3.1.1 code 5 (not authorized) for older ones, which would read as
MQTT_CONNECT_UNAUTHORIZED instead of MQTT_CONNECT_BAD_CREDENTIALS.
"""

from __future__ import annotations

import collections
import contextlib
import selectors
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


class _Network:
    """One thread that drives every simulated device's paho client over epoll.

    paho's own ``loop_start()`` thread waits in ``select()``, which cannot watch a descriptor numbered
    1024 or above: once a fleet's process holds that many (each device has a listening socket, its MQTT
    socket and paho's wake-up socket pair), a new client's CONNACK sits unread in its socket and the
    device reports MQTT_CONNECTION_TIMEOUT. epoll has no such limit, and one thread for the whole fleet
    replaces a thread per device.
    """

    MISC_PERIOD_S = 1.0  # keepalive pings and paho's own timeouts need only this resolution

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def attach(self, client: paho.Client) -> None:
        """Route the client's socket through this loop (before ``client.connect``)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sim-mqtt", daemon=True)
                self._thread.start()
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._done_writing

    def _opened(self, client: Any, userdata: Any, sock: Any) -> None:
        with self._lock:
            self._selector.register(sock, selectors.EVENT_READ, client)

    def _closed(self, client: Any, userdata: Any, sock: Any) -> None:
        self._set(sock, client, None)

    def _want_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self._set(sock, client, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def _done_writing(self, client: Any, userdata: Any, sock: Any) -> None:
        self._set(sock, client, selectors.EVENT_READ)

    def _set(self, sock: Any, client: Any, events: int | None) -> None:
        with self._lock:
            try:
                if events is None:
                    self._selector.unregister(sock)
                else:
                    self._selector.modify(sock, events, client)
            except (KeyError, ValueError, OSError):
                # The socket was closed (and unregistered) first: nothing left to watch.
                pass

    def _run(self) -> None:
        next_misc = time.monotonic() + self.MISC_PERIOD_S
        while True:
            # Sockets registered meanwhile are watched by the epoll_wait already under way.
            for key, mask in self._selector.select(timeout=self.MISC_PERIOD_S):
                self._serve(key.data, mask)
            now = time.monotonic()
            if now >= next_misc:
                next_misc = now + self.MISC_PERIOD_S
                with self._lock:
                    clients = [key.data for key in self._selector.get_map().values()]
                for client in clients:
                    self._guard(client.loop_misc)

    def _serve(self, client: paho.Client, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self._guard(client.loop_read)
        if mask & selectors.EVENT_WRITE:
            self._guard(client.loop_write)

    @staticmethod
    def _guard(call: Any) -> None:
        # One device's broken socket must not stop the loop every other device depends on.
        with contextlib.suppress(Exception):
            call()


_NETWORK = _Network()


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
        # Set when the simulator shuts down: every wait below ends at once instead of running its timeout,
        # so a device retrying a dead broker does not hold up the process.
        self.cancelled = threading.Event()

    # paho callbacks (the shared network thread). A client this adapter has already dropped may still
    # report (its DISCONNECT goes out after disconnect() returns): it must not touch the current link.

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if client is self._client:
            self._reason = int(reason.value)
            self._connack.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if client is self._client:
            self._lost = True

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if client is self._client:
            self._inbox.append((str(message.topic), bytes(message.payload)))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if client is self._client:
            self._puback[mid] = int(reason.value)

    # the port

    def cancel(self) -> None:
        """Abandon the link and any wait in progress (thread-safe); ``resume()`` before using it again."""
        self.cancelled.set()
        self._connack.set()

    def resume(self) -> None:
        self.cancelled.clear()

    def _check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "simulator shutting down")

    def connect(self, host: str, port: int, username: str, client_id: str) -> None:
        self.disconnect()
        delay = self.world.server_delay_s
        if delay >= self.connect_timeout_s:
            self.cancelled.wait(self.connect_timeout_s)
            self._check_cancelled()
            raise st.MqttFailure(st.MQTT_CONNECTION_TIMEOUT, "no CONNACK in time")
        self.cancelled.wait(delay)
        self._check_cancelled()
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
        _NETWORK.attach(client)
        self._connack.clear()
        self._check_cancelled()  # after the clear: a cancel() from here on still ends the CONNACK wait
        self._lost = False
        self._inbox.clear()
        self._puback.clear()
        # Current before the socket opens: the CONNACK may be read before connect() returns.
        self._client = client
        try:
            client.connect(host, port, keepalive=self.keepalive_s)
        except ConnectionRefusedError as error:
            self._client = None
            raise st.MqttFailure(st.socket_title(st.REFUSED), str(error)) from None
        except TimeoutError as error:
            self._client = None
            raise st.MqttFailure(st.socket_title(st.TIMEOUT), str(error)) from None
        except OSError as error:
            self._client = None
            raise st.MqttFailure(st.socket_title(st.REFUSED), str(error)) from None
        if not self._connack.wait(self.connect_timeout_s) or self.cancelled.is_set():
            self.disconnect()
            self._check_cancelled()
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
            self.cancelled.wait(self.ack_timeout_s)
            self._check_cancelled()
            raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no PUBACK in time")
        self.cancelled.wait(delay)
        deadline = time.monotonic() + self.ack_timeout_s - delay
        while info.mid not in self._puback:
            self._check_cancelled()
            if self._lost:
                raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "connection lost before PUBACK")
            if time.monotonic() >= deadline:
                raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no PUBACK in time")
            time.sleep(0.005)
        reason = self._puback.pop(info.mid)
        if reason >= 0x80:
            raise st.MqttFailure(st.SERVER_ERROR, "PUBACK reason " + hex(reason))

    def poll(self) -> list[tuple[str, bytes]]:
        self._check_cancelled()
        if self._client is None or self._lost:
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "connection lost")
        out = []
        while self._inbox:
            out.append(self._inbox.popleft())
        return out

    def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # The network thread sends the DISCONNECT and closes the socket.
            client.disconnect()

    def _require(self) -> paho.Client:
        self._check_cancelled()
        if self._client is None or self._lost:
            raise st.MqttFailure(st.MQTT_CONNECTION_LOST, "not connected")
        return self._client
