"""Run on MicroPython: RFC 7748 vectors through firmware/core/x25519.py, the time of one X25519, and
mpcrypto's AES-CTR keystream over uneven chunks (the pytest side compares it with ``cryptography``)."""

import sys
import time

from mpcrypto import MicroPythonCrypto

from firmware.core import x25519
from firmware.tests import rfc7748

iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
start = time.ticks_ms()
bad = rfc7748.failures(x25519.scalarmult, iterations)
elapsed = time.ticks_diff(time.ticks_ms(), start)
print("vectors", "ok" if not bad else ",".join(bad), "ms", elapsed, "iterations", iterations)

crypto = MicroPythonCrypto()
start = time.ticks_ms()
for _ in range(20):
    crypto.x25519_keypair()
print("x25519 ms", time.ticks_diff(time.ticks_ms(), start) / 20)

key = bytes(range(32))
for counter in ("000102030405060708090a0b0c0d0e0f", "ffffffffffffffffffffffffffffffff"):
    ctr = crypto.aes_ctr(key, bytes.fromhex(counter))
    out = b""
    for size in (1, 15, 16, 17, 0, 33, 3):
        out += ctr.update(bytes([size]) * size)
    print("ctr", counter, out.hex())
