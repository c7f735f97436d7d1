"""MQTT 3.1, 3.1.1 and 5 wire format: the packets a ThingsBoard device transport exchanges.

Server-side decoders and encoders, plus the few client-side encoders that raw-protocol tests and the benchmark
need. Version 5 properties are parsed only far enough to skip them: ThingsBoard's transport ignores them too.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
AUTH = 15

MQTT_3_1 = 3
MQTT_3_1_1 = 4
MQTT_5 = 5

PINGRESP_PACKET = b"\xd0\x00"
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_V3_PACKET = b"\xe0\x00"


class MalformedPacketError(ValueError):
    """The bytes are not a well-formed packet of the negotiated protocol version."""


def encode_varint(value: int) -> bytes:
    """MQTT's variable byte integer (remaining length, property lengths)."""
    if value < 128:
        return bytes((value,))
    out = bytearray()
    while True:
        digit = value & 0x7F
        value >>= 7
        if value:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def decode_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """``(value, next_pos)``, or ``None`` when ``buf`` ends before the integer does."""
    multiplier = 1
    value = 0
    for index in range(4):
        if pos + index >= len(buf):
            return None
        byte = buf[pos + index]
        value += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            return value, pos + index + 1
        multiplier <<= 7
    raise MalformedPacketError("variable byte integer longer than 4 bytes")


def _read_u16(body: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 > len(body):
        raise MalformedPacketError("truncated two-byte integer")
    return (body[pos] << 8) | body[pos + 1], pos + 2


def _read_binary(body: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = _read_u16(body, pos)
    end = pos + length
    if end > len(body):
        raise MalformedPacketError("truncated string")
    return body[pos:end], end


def _read_str(body: bytes, pos: int) -> tuple[str, int]:
    raw, pos = _read_binary(body, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError as exc:
        raise MalformedPacketError("string is not UTF-8") from exc


def _skip_properties(body: bytes, pos: int) -> int:
    decoded = decode_varint(body, pos)
    if decoded is None:
        raise MalformedPacketError("truncated properties")
    length, pos = decoded
    if pos + length > len(body):
        raise MalformedPacketError("truncated properties")
    return pos + length


def _str_field(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def _binary_field(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def frame(first_byte: int, body: bytes) -> bytes:
    """Prefix ``body`` with the fixed header."""
    return bytes((first_byte,)) + encode_varint(len(body)) + body


@dataclass(slots=True)
class Connect:
    """A decoded CONNECT."""

    protocol_level: int
    clean_session: bool
    keepalive: int
    client_id: str
    username: str | None
    password: bytes | None


def decode_connect(body: bytes) -> Connect:
    """Decode a CONNECT body; will topic and payload are read and dropped (TB ignores them)."""
    name, pos = _read_str(body, 0)
    if pos + 4 > len(body):
        raise MalformedPacketError("truncated CONNECT")
    level = body[pos]
    flags = body[pos + 1]
    if (name, level) not in {("MQIsdp", MQTT_3_1), ("MQTT", MQTT_3_1_1), ("MQTT", MQTT_5)}:
        raise MalformedPacketError(f"unsupported protocol {name!r} level {level}")
    if flags & 0x01:
        raise MalformedPacketError("reserved CONNECT flag set")
    keepalive, pos = _read_u16(body, pos + 2)
    if level == MQTT_5:
        pos = _skip_properties(body, pos)
    client_id, pos = _read_str(body, pos)
    if flags & 0x04:
        if level == MQTT_5:
            pos = _skip_properties(body, pos)
        _, pos = _read_str(body, pos)
        _, pos = _read_binary(body, pos)
    username: str | None = None
    password: bytes | None = None
    if flags & 0x80:
        username, pos = _read_str(body, pos)
    if flags & 0x40:
        password, pos = _read_binary(body, pos)
    return Connect(level, bool(flags & 0x02), keepalive, client_id, username, password)


def decode_publish(flags: int, body: bytes, level: int) -> tuple[str, int, int, bytes]:
    """``(topic, qos, packet_id, payload)``; ``packet_id`` is 0 for QoS 0."""
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacketError("PUBLISH with QoS 3")
    length = (body[0] << 8) | body[1] if len(body) >= 2 else -1
    pos = 2 + length
    if length < 0 or pos > len(body):
        raise MalformedPacketError("truncated topic")
    try:
        topic = body[2:pos].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPacketError("topic is not UTF-8") from exc
    packet_id = 0
    if qos:
        packet_id, pos = _read_u16(body, pos)
        if packet_id == 0:
            raise MalformedPacketError("PUBLISH with packet id 0")
    if level == MQTT_5:
        pos = _skip_properties(body, pos)
    return topic, qos, packet_id, body[pos:]


def decode_subscribe(body: bytes, level: int) -> tuple[int, list[tuple[str, int]]]:
    """``(packet_id, [(topic_filter, requested_qos), ...])``."""
    packet_id, pos = _read_u16(body, 0)
    if level == MQTT_5:
        pos = _skip_properties(body, pos)
    topics: list[tuple[str, int]] = []
    while pos < len(body):
        topic, pos = _read_str(body, pos)
        if pos >= len(body):
            raise MalformedPacketError("SUBSCRIBE without options")
        topics.append((topic, body[pos] & 0x03))
        pos += 1
    if not topics:
        raise MalformedPacketError("SUBSCRIBE without topics")
    return packet_id, topics


def decode_unsubscribe(body: bytes, level: int) -> tuple[int, list[str]]:
    """``(packet_id, [topic_filter, ...])``."""
    packet_id, pos = _read_u16(body, 0)
    if level == MQTT_5:
        pos = _skip_properties(body, pos)
    topics: list[str] = []
    while pos < len(body):
        topic, pos = _read_str(body, pos)
        topics.append(topic)
    if not topics:
        raise MalformedPacketError("UNSUBSCRIBE without topics")
    return packet_id, topics


def decode_packet_id(body: bytes) -> int:
    """The packet id that starts a PUBACK/PUBREC/SUBACK/UNSUBACK body."""
    return _read_u16(body, 0)[0]


def encode_connack(level: int, return_code: int, *, session_present: bool = False) -> bytes:
    """CONNACK; ``return_code`` is already in the version's numbering (3.x codes or v5 reason codes)."""
    flags = 1 if session_present else 0
    if level == MQTT_5:
        return bytes((0x20, 3, flags, return_code, 0))
    return bytes((0x20, 2, flags, return_code))


def encode_puback(level: int, packet_id: int, reason_code: int = 0) -> bytes:
    """PUBACK; on v5 a non-zero reason code is carried, on 3.x it cannot be."""
    if level == MQTT_5 and reason_code:
        return bytes((0x40, 4, packet_id >> 8, packet_id & 0xFF, reason_code, 0))
    return bytes((0x40, 2, packet_id >> 8, packet_id & 0xFF))


def encode_suback(packet_id: int, codes: list[int], level: int) -> bytes:
    """SUBACK with one granted QoS or failure code per requested filter."""
    props = b"\x00" if level == MQTT_5 else b""
    return frame(0x90, packet_id.to_bytes(2, "big") + props + bytes(codes))


def encode_unsuback(packet_id: int, codes: list[int], level: int) -> bytes:
    """UNSUBACK; reason codes exist only on v5."""
    if level == MQTT_5:
        return frame(0xB0, packet_id.to_bytes(2, "big") + b"\x00" + bytes(codes))
    return bytes((0xB0, 2, packet_id >> 8, packet_id & 0xFF))


def encode_disconnect(level: int, reason_code: int = 0) -> bytes:
    """DISCONNECT; the reason code is carried on v5 only."""
    if level == MQTT_5:
        return bytes((0xE0, 2, reason_code, 0))
    return DISCONNECT_V3_PACKET


def encode_publish(
    topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 0, level: int = MQTT_3_1_1
) -> bytes:
    """PUBLISH (either direction)."""
    head = _str_field(topic)
    if qos:
        head += packet_id.to_bytes(2, "big")
    if level == MQTT_5:
        head += b"\x00"
    return frame(0x30 | (qos << 1), head + payload)


def encode_connect(
    client_id: str,
    *,
    username: str | None = None,
    password: bytes | None = None,
    keepalive: int = 60,
    level: int = MQTT_3_1_1,
    clean_session: bool = True,
) -> bytes:
    """Client-side CONNECT, for raw-protocol tests and the benchmark's load generator."""
    flags = 0x02 if clean_session else 0
    payload = _str_field(client_id)
    if username is not None:
        flags |= 0x80
        payload += _str_field(username)
    if password is not None:
        flags |= 0x40
        payload += _binary_field(password)
    name = "MQIsdp" if level == MQTT_3_1 else "MQTT"
    header = _str_field(name) + bytes((level, flags)) + keepalive.to_bytes(2, "big")
    if level == MQTT_5:
        header += b"\x00"
    return frame(0x10, header + payload)


def encode_subscribe(packet_id: int, topics: list[tuple[str, int]], level: int = MQTT_3_1_1) -> bytes:
    """Client-side SUBSCRIBE."""
    body = packet_id.to_bytes(2, "big")
    if level == MQTT_5:
        body += b"\x00"
    for topic, qos in topics:
        body += _str_field(topic) + bytes((qos,))
    return frame(0x82, body)


def encode_unsubscribe(packet_id: int, topics: list[str], level: int = MQTT_3_1_1) -> bytes:
    """Client-side UNSUBSCRIBE."""
    body = packet_id.to_bytes(2, "big")
    if level == MQTT_5:
        body += b"\x00"
    for topic in topics:
        body += _str_field(topic)
    return frame(0xA2, body)


class PacketReader:
    """Splits a byte stream into ``(type, flags, body)`` packets (client side: tests and the benchmark)."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Append ``data`` and return every packet now complete."""
        buf = self._buf + data
        packets: list[tuple[int, int, bytes]] = []
        pos = 0
        while len(buf) - pos >= 2:
            decoded = decode_varint(buf, pos + 1)
            if decoded is None:
                break
            length, start = decoded
            end = start + length
            if end > len(buf):
                break
            packets.append((buf[pos] >> 4, buf[pos] & 0x0F, buf[start:end]))
            pos = end
        self._buf = buf[pos:]
        return packets
