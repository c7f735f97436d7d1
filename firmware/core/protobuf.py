"""A tiny protobuf (proto3) wire codec for the few ESP-IDF provisioning messages the device speaks.

Hand-written instead of the ``protobuf`` package so that MicroPython can run it: only varints and
length-delimited fields exist in these messages. Messages are built as lists of ``(field, kind, value)``
and decoded into ``{field: [values]}``; the message shapes live next to the code that uses them
(protocomm.py, wifiprov.py), with the .proto text in porto_contract/device/esp-provisioning.md.

Kinds: ``V`` an unsigned varint or enum, omitted when 0 (proto3 default); ``I`` an int32, negative values
as ten-byte two's complement varints, omitted when 0; ``B`` bytes or str, omitted when empty; ``M`` a
sub-message (already encoded) or ``O`` a oneof scalar varint: both always emitted, because a set oneof
member is serialised even when it holds the default.
"""

V = "v"
I = "i"  # noqa: E741 - the protobuf type letter
B = "b"
M = "m"
O = "o"  # noqa: E741 - the protobuf type letter

try:  # noqa: SIM105 - MicroPython has no contextlib
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython only
    pass

MAX_VARINT_BYTES = 10


class DecodeError(ValueError):
    pass


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def encode(fields: "list[Any]") -> bytes:
    """Serialise ``fields`` in the order given (callers list them by field number, as protoc does)."""
    out = bytearray()
    for field, kind, value in fields:
        if kind in (V, I):
            if value:
                out += _key(field, 0) + varint(value)
        elif kind == O:
            out += _key(field, 0) + varint(value)
        elif kind == B:
            data = value.encode() if isinstance(value, str) else bytes(value)
            if data:
                out += _key(field, 2) + varint(len(data)) + data
        elif kind == M:
            data = bytes(value)
            out += _key(field, 2) + varint(len(data)) + data
        else:
            raise ValueError("unknown kind " + kind)
    return bytes(out)


def _read_varint(buf: bytes, pos: int) -> "tuple[int, int]":
    value = 0
    shift = 0
    for i in range(MAX_VARINT_BYTES):
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if i == MAX_VARINT_BYTES - 1 and byte > 1:
                raise DecodeError("varint too long")
            return value, pos
    raise DecodeError("varint too long")


def decode(buf: bytes) -> "dict[int, list[object]]":
    """Parse one message level: varints become ints, length-delimited fields bytes. Fixed32/64 fields are
    skipped (none of these messages has one); groups and anything malformed raise DecodeError."""
    buf = bytes(buf)
    fields = {}  # type: dict[int, list[object]]
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise DecodeError("field number 0")
        value = None  # type: object
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            if length > len(buf) - pos:
                raise DecodeError("truncated field")
            value = buf[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if size > len(buf) - pos:
                raise DecodeError("truncated field")
            pos += size
            continue
        else:
            raise DecodeError("unsupported wire type " + str(wire))
        if field in fields:
            fields[field].append(value)
        else:
            fields[field] = [value]
    return fields


def get_int(fields: "dict[int, list[object]]", field: int, default: int = 0) -> int:
    """The last value of a varint field (proto3: the last one wins)."""
    values = fields.get(field)
    if not values:
        return default
    value = values[-1]
    if not isinstance(value, int):
        raise DecodeError("field " + str(field) + " is not a varint")
    return value


def get_int32(fields: "dict[int, list[object]]", field: int) -> int:
    value = get_int(fields, field) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def get_bytes(fields: "dict[int, list[object]]", field: int, default: bytes = b"") -> bytes:
    values = fields.get(field)
    if not values:
        return default
    value = values[-1]
    if not isinstance(value, bytes):
        raise DecodeError("field " + str(field) + " is not length-delimited")
    return value


def get_all_bytes(fields: "dict[int, list[object]]", field: int) -> "list[bytes]":
    out = []
    for value in fields.get(field, []):
        if not isinstance(value, bytes):
            raise DecodeError("field " + str(field) + " is not length-delimited")
        out.append(value)
    return out


def get_message(fields: "dict[int, list[object]]", field: int) -> "dict[int, list[object]] | None":
    """A sub-message field, decoded; None when absent (which is how a oneof says "not this member")."""
    if field not in fields:
        return None
    return decode(get_bytes(fields, field))


def get_str(fields: "dict[int, list[object]]", field: int) -> str:
    try:
        return get_bytes(fields, field).decode()
    except UnicodeError:
        raise DecodeError("field " + str(field) + " is not UTF-8") from None
