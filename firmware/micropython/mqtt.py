"""The state machine's MQTT port over micropython-lib's ``umqtt.simple`` (MQTT 3.1.1).

umqtt.simple raises its own exceptions, asserts on protocol errors and waits without limit; this
adapter bounds every wait and reports failures as MqttFailure with PubSubClient's titles
(firmware.core.status). Works with umqtt.simple 1.3.4 (PyPI) and the newer one ``mip`` installs,
whose connect() takes a timeout.
"""

import errno
import time

from umqtt.simple import MQTTClient, MQTTException

from firmware.core import status as st

# Ports differ in how a socket deadline surfaces: ETIMEDOUT on reads, EAGAIN on some, EINPROGRESS
# from a connect() whose SYN went unanswered (unix port).
_TIMEOUT_ERRNOS = (errno.ETIMEDOUT, errno.EAGAIN, errno.EINPROGRESS)
MAX_PACKET_ID = 65535
# Messages read per poll(): the local API and the state machine share the loop.
MAX_MESSAGES_PER_POLL = 16


def _timed_out(error):
    return (bool(error.args) and error.args[0] in _TIMEOUT_ERRNOS) or "timed out" in str(error)


class _DeadlineSocket:
    """The socket umqtt.simple sees: reads and writes never block for longer than ``timeout``.

    umqtt makes the socket fully blocking again after each check_msg() (setblocking(True)), and the
    newer release sets the connect() timeout argument (None unless given) on it: both are turned into
    our deadline, so a silent broker cannot stall the device.
    """

    def __init__(self, raw, timeout):
        self.raw = raw
        self.timeout = timeout
        self.connected = False
        raw.settimeout(timeout)

    def connect(self, address):
        self.raw.connect(address)
        # From here on a failure is the broker's silence or a drop, no longer a refused connection.
        self.connected = True

    def settimeout(self, timeout):
        self.raw.settimeout(self.timeout if timeout is None else timeout)

    def setblocking(self, flag):
        if flag:
            self.raw.settimeout(self.timeout)
        else:
            self.raw.setblocking(False)  # noqa: FBT003 - socket API

    def read(self, size):
        return self.raw.read(size)

    def write(self, data, *limit):
        return self.raw.write(data, *limit)

    def close(self):
        self.raw.close()


class _Client(MQTTClient):
    """umqtt.simple's client whose every socket is wrapped in a _DeadlineSocket.

    connect() creates its socket itself and has no timeout in 1.3.4, so the wrapping happens where
    it stores the socket.
    """

    deadline_s = 5

    @property
    def sock(self):
        return self._sock

    @sock.setter
    def sock(self, value):
        if value is not None and not isinstance(value, _DeadlineSocket):
            value = _DeadlineSocket(value, self.deadline_s)
        self._sock = value


class MqttClient:
    def __init__(self, connect_timeout_s=5, ack_timeout_s=5, keepalive_s=30):
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.keepalive_s = keepalive_s
        self.client = None
        self.inbox = []
        self.last_sent = 0

    # -- the port --------------------------------------------------------------------------------

    def connect(self, host, port, username, client_id):
        self.disconnect()
        self.inbox = []
        # ThingsBoard token auth: the token is the user name, the password empty (umqtt 1.3.4
        # needs a string there as soon as a user is set).
        client = _Client(
            _bytes(client_id), host, port, user=_bytes(username), password=b"", keepalive=self.keepalive_s
        )
        client.deadline_s = self.connect_timeout_s
        client.set_callback(self._received)
        self.client = client
        try:
            client.connect()
        except MQTTException as error:
            self._close()
            code = error.args[0] if error.args else -1
            raise st.MqttFailure(st.connack_title(code), "CONNACK return code " + str(code)) from None
        except OSError as error:
            reached = client.sock is not None and client.sock.connected
            self._close()
            if reached or _timed_out(error):
                # The broker took the connection but no CONNACK came (or the SYN went unanswered).
                raise st.MqttFailure(st.socket_title(st.TIMEOUT), "no CONNACK: " + str(error)) from None
            raise st.MqttFailure(st.socket_title(st.REFUSED), str(error)) from None
        except (AssertionError, IndexError):
            # umqtt asserts on a malformed CONNACK and indexes an empty read when the broker hangs up.
            self._close()
            raise st.MqttFailure(st.MQTT_CONNECT_BAD_PROTOCOL, "no valid CONNACK") from None
        client.deadline_s = self.ack_timeout_s
        client.sock.settimeout(self.ack_timeout_s)
        self.last_sent = time.ticks_ms()

    def subscribe(self, topic):
        client = self._require()
        self._wrap_packet_id()
        try:
            client.subscribe(_bytes(topic), 1)
        except MQTTException:
            self._close()
            raise st.MqttFailure(st.SERVER_ERROR, "subscription refused: " + topic) from None
        except Exception as error:  # noqa: BLE001 - umqtt's OSError, AssertionError, IndexError
            raise self._failed(error) from None
        self.last_sent = time.ticks_ms()

    def publish(self, topic, payload, qos):
        client = self._require()
        self._wrap_packet_id()
        try:
            client.publish(_bytes(topic), payload, False, qos)  # noqa: FBT003 - umqtt's retain flag
        except Exception as error:  # noqa: BLE001 - umqtt's OSError, AssertionError, IndexError
            raise self._failed(error) from None
        self.last_sent = time.ticks_ms()

    def poll(self):
        client = self._require()
        try:
            stray = self._drain(client)
            # The broker drops a client silent for 1.5 keepalives; ping at half of one.
            if stray is None and time.ticks_diff(time.ticks_ms(), self.last_sent) > self.keepalive_s * 500:
                client.ping()
                self.last_sent = time.ticks_ms()
        except Exception as error:  # noqa: BLE001 - umqtt's OSError, AssertionError, IndexError
            raise self._failed(error, lost_on_timeout=True) from None
        if stray is not None:
            # umqtt hands back packets other than PUBLISH unread; the stream cannot be trusted after that.
            self._close()
            raise st.MqttFailure(st.socket_title(st.DROPPED), "unexpected packet " + hex(stray))
        out = self.inbox
        self.inbox = []
        return out

    def _drain(self, client):
        """Let umqtt deliver what has arrived; returns the type of a packet it could not handle."""
        for _ in range(MAX_MESSAGES_PER_POLL):
            before = len(self.inbox)
            op = client.check_msg()
            if op is not None and (op & 0xF0) != 0x30:
                return op
            # 1.3.4 returns None after a delivered message too, so the inbox tells whether one came.
            if op is None and len(self.inbox) == before:
                return None
        return None

    def disconnect(self):
        if self.client is not None and self.client.sock is not None:
            try:  # noqa: SIM105 - no contextlib on MicroPython
                self.client.disconnect()
            except OSError:
                pass
        self._close()

    # -- helpers ---------------------------------------------------------------------------------

    def _received(self, topic, message):
        self.inbox.append((bytes(topic).decode(), bytes(message)))

    def _require(self):
        if self.client is None:
            raise st.MqttFailure(st.socket_title(st.DROPPED), "not connected")
        return self.client

    def _wrap_packet_id(self):
        # umqtt counts packet ids up without bound; 65536 would go out as the reserved id 0.
        if self.client.pid >= MAX_PACKET_ID:
            self.client.pid = 0

    def _failed(self, error, lost_on_timeout=False):  # noqa: FBT002 - MicroPython-friendly
        """Close the link and name what went wrong: no answer in time, or a lost connection."""
        self._close()
        if isinstance(error, OSError) and _timed_out(error) and not lost_on_timeout:
            return st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no acknowledgement in time")
        return st.MqttFailure(st.socket_title(st.DROPPED), repr(error))

    def _close(self):
        client = self.client
        self.client = None
        if client is not None and client.sock is not None:
            try:  # noqa: SIM105 - no contextlib on MicroPython
                client.sock.close()
            except OSError:
                pass


def _bytes(text):
    return text.encode() if isinstance(text, str) else text
