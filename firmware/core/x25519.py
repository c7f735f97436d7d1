"""X25519 (RFC 7748) in plain integer arithmetic, for boards whose MicroPython has no curve25519.

The host simulator uses ``cryptography`` instead (firmware/sim/crypto.py); this exists so security 1 runs
on MicroPython, and runs on CPython too so its tests check it against ``cryptography``.

Not constant-time: big-integer multiplication and ``%`` take data-dependent time on both CPython and
MicroPython, and the ladder's swap is a branch. An attacker who can time the board's handshakes over Wi-Fi
could learn about the ephemeral key; each key is used for one handshake only, which is what ESP-IDF's
security 1 does as well.
"""

P = 2**255 - 19
A24 = 121665  # (486662 - 2) / 4
BASE_POINT = b"\x09" + b"\x00" * 31


def _scalar(k: bytes) -> int:
    # Clamping (RFC 7748 section 5): a multiple of the cofactor 8, bit 254 set.
    b = bytearray(k)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return int.from_bytes(bytes(b), "little")


def _u(u: bytes) -> int:
    # The top bit is ignored; non-canonical values (p..2^255-1) are reduced, as the RFC requires.
    b = bytearray(u)
    b[31] &= 127
    return int.from_bytes(bytes(b), "little") % P


def scalarmult(k: bytes, u: bytes) -> bytes:
    """X25519(k, u): the Montgomery ladder of RFC 7748 section 5."""
    if len(k) != 32 or len(u) != 32:
        raise ValueError("X25519 takes 32-byte scalars and points")
    scalar = _scalar(k)
    x1 = _u(u)
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (scalar >> t) & 1
        if swap ^ bit:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = bit
        a = x2 + z2
        aa = a * a % P
        b = x2 - z2
        bb = b * b % P
        e = aa - bb
        c = x3 + z3
        d = x3 - z3
        da = d * a % P
        cb = c * b % P
        s = da + cb
        x3 = s * s % P
        s = da - cb
        z3 = x1 * (s * s % P) % P
        x2 = aa * bb % P
        z2 = e * (aa + A24 * e) % P
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    # z2^(p-2) is z2's inverse (Fermat); 0 maps to 0, so a low-order point yields the all-zero output.
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def public_key(private: bytes) -> bytes:
    return scalarmult(private, BASE_POINT)


def shared_secret(private: bytes, peer: bytes) -> bytes:
    """As mbedtls and ``cryptography`` do, refuse the all-zero result of a low-order peer point."""
    shared = scalarmult(private, peer)
    if shared == b"\x00" * 32:
        raise ValueError("low-order point")
    return shared
