"""A small MQTT client for MicroPython: the subset the firmware needs (our own, in place of umqtt).

MQTT 5 (default) or 3.1.1; CONNECT with the access token as user name and no password (ThingsBoard
token auth); SUBSCRIBE at QoS 1; PUBLISH at QoS 0/1 waiting for the PUBACK; incoming PUBLISH with
PUBACK; PINGREQ on keepalive. Failures are raised as MqttFailure with PubSubClient's titles, mapped
by firmware.core.status.
"""

import select
import socket
import time

from firmware.core import status as st

ECONNREFUSED = 111
ETIMEDOUT = 110


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(text):
    data = text.encode() if isinstance(text, str) else text
    return bytes((len(data) >> 8, len(data) & 0xFF)) + data


def _ticks():
    return time.ticks_ms()


def _elapsed(since):
    return time.ticks_diff(time.ticks_ms(), since)


class MqttClient:
    def __init__(self, connect_timeout_s=5, ack_timeout_s=5, keepalive_s=30, mqtt5=True):  # noqa: FBT002
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.keepalive_s = keepalive_s
        self.mqtt5 = mqtt5
        self.sock = None
        self.poller = None
        self.inbox = []
        self.pid = 0
        self.last_sent = 0

    # -- wire ------------------------------------------------------------------------------------

    def _send(self, packet):
        view = memoryview(packet)
        while view:
            sent = self.sock.send(view)
            view = view[sent:]
        self.last_sent = _ticks()

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise st.MqttFailure(st.socket_title(st.DROPPED), "server closed the connection")
            data += chunk
        return data

    def _read_packet(self):
        first = self._recv_exact(1)[0]
        length = 0
        shift = 0
        while True:
            byte = self._recv_exact(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = self._recv_exact(length) if length else b""
        return first, body

    def _skip_props(self, body, pos):
        if not self.mqtt5:
            return pos
        length = 0
        shift = 0
        while True:
            byte = body[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return pos + length

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    # -- the port --------------------------------------------------------------------------------

    def connect(self, host, port, username, client_id):
        self.disconnect()
        self.inbox = []
        try:
            addr = socket.getaddrinfo(host, port)[0][-1]
            sock = socket.socket()
            self.sock = sock
            sock.settimeout(self.connect_timeout_s)
            sock.connect(addr)
        except OSError as error:
            self._close()
            code = error.args[0] if error.args else 0
            kind = st.TIMEOUT if code == ETIMEDOUT or "timed out" in str(error) else st.REFUSED
            raise st.MqttFailure(st.socket_title(kind), str(error)) from None
        flags = 0x02 | (0x80 if username else 0)
        variable = _str("MQTT") + bytes((5 if self.mqtt5 else 4, flags))
        variable += bytes((self.keepalive_s >> 8, self.keepalive_s & 0xFF))
        if self.mqtt5:
            variable += b"\x00"
        payload = _str(client_id) + (_str(username) if username else b"")
        body = variable + payload
        try:
            self._send(b"\x10" + _varint(len(body)) + body)
            first, answer = self._read_packet()
        except OSError as error:
            self._close()
            raise st.MqttFailure(st.socket_title(st.TIMEOUT), "no CONNACK: " + str(error)) from None
        except st.MqttFailure:
            self._close()
            raise
        if first != 0x20 or len(answer) < 2:
            self._close()
            raise st.MqttFailure(st.MQTT_CONNECT_BAD_PROTOCOL, "not a CONNACK")
        code = answer[1]
        if code != 0:
            self._close()
            raise st.MqttFailure(st.connack_title(code, self.mqtt5), "CONNACK reason " + hex(code))
        self.sock.settimeout(self.ack_timeout_s)
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)

    def subscribe(self, topic):
        self._require()
        pid = self._next_pid()
        body = bytes((pid >> 8, pid & 0xFF)) + (b"\x00" if self.mqtt5 else b"") + _str(topic) + b"\x01"
        self._guarded(self._send, b"\x82" + _varint(len(body)) + body)
        self._await(0x90, pid)

    def publish(self, topic, payload, qos):
        self._require()
        header = 0x30 | (qos << 1)
        body = _str(topic)
        pid = 0
        if qos:
            pid = self._next_pid()
            body += bytes((pid >> 8, pid & 0xFF))
        if self.mqtt5:
            body += b"\x00"
        body += payload
        self._guarded(self._send, bytes((header,)) + _varint(len(body)) + body)
        if qos:
            reason = self._await(0x40, pid)
            if reason >= 0x80:
                raise st.MqttFailure(st.SERVER_ERROR, "PUBACK reason " + hex(reason))

    def poll(self):
        self._require()
        try:
            while self.poller.poll(0):
                self._dispatch(*self._read_packet())
            if _elapsed(self.last_sent) > self.keepalive_s * 500:
                self._send(b"\xc0\x00")
        except OSError as error:
            self._close()
            raise st.MqttFailure(st.socket_title(st.DROPPED), str(error)) from None
        except st.MqttFailure:
            self._close()
            raise
        out = self.inbox
        self.inbox = []
        return out

    def disconnect(self):
        if self.sock is not None:
            try:  # noqa: SIM105 - no contextlib on MicroPython
                self._send(b"\xe0\x00")
            except OSError:
                pass
        self._close()

    # -- helpers ---------------------------------------------------------------------------------

    def _require(self):
        if self.sock is None:
            raise st.MqttFailure(st.socket_title(st.DROPPED), "not connected")

    def _close(self):
        if self.sock is not None:
            try:  # noqa: SIM105 - no contextlib on MicroPython
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.poller = None

    def _guarded(self, fn, arg):
        try:
            fn(arg)
        except OSError as error:
            self._close()
            raise st.MqttFailure(st.socket_title(st.DROPPED), str(error)) from None

    def _await(self, kind, pid):
        """Read packets until the ack ``kind`` for ``pid``; returns its reason code (0 when absent)."""
        start = _ticks()
        while _elapsed(start) < self.ack_timeout_s * 1000:
            try:
                first, body = self._read_packet()
            except OSError as error:
                if "timed out" in str(error) or (error.args and error.args[0] == ETIMEDOUT):
                    break
                self._close()
                raise st.MqttFailure(st.socket_title(st.DROPPED), str(error)) from None
            except st.MqttFailure:
                self._close()
                raise
            if first & 0xF0 == kind and len(body) >= 2 and (body[0] << 8 | body[1]) == pid:
                if kind == 0x90:
                    return body[-1]
                return body[2] if len(body) > 2 else 0
            self._dispatch(first, body)
        raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no acknowledgement in time")

    def _dispatch(self, first, body):
        kind = first & 0xF0
        if kind == 0x30:
            qos = (first >> 1) & 0x03
            size = body[0] << 8 | body[1]
            topic = bytes(body[2 : 2 + size]).decode()
            pos = 2 + size
            pid = 0
            if qos:
                pid = body[pos] << 8 | body[pos + 1]
                pos += 2
            pos = self._skip_props(body, pos)
            self.inbox.append((topic, bytes(body[pos:])))
            if qos:
                self._send(bytes((0x40, 2, pid >> 8, pid & 0xFF)))
        elif kind == 0xE0:
            self._close()
            raise st.MqttFailure(st.socket_title(st.DROPPED), "server sent DISCONNECT")
