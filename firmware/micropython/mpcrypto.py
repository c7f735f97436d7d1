"""The protocomm crypto port (firmware/core/protocomm.py) on MicroPython: enough for security 0 and 1.

X25519 is firmware/core/x25519.py (plain integers), SHA-256 is ``hashlib``, AES-256-CTR is built on
``cryptolib.aes`` in ECB mode: ECB exists on every port with cryptolib, while MODE_CTR is a build option
(the unix port in CI lacks it), and one code path is the one the tests exercise.

Security 2 needs SHA-512 and AES-GCM, which MicroPython's hashlib and cryptolib do not offer, so those
raise: a board configured for security 2 fails at start-up, not mid-handshake.
"""

import hashlib
import os

import cryptolib

from firmware.core import x25519

MODE_ECB = 1
BLOCK = 16


class AesCtr:
    """One running keystream (mbedtls_aes_crypt_ctr): the whole 16-byte block counts, big-endian."""

    def __init__(self, key, counter_block):
        if len(counter_block) != BLOCK:
            raise ValueError("counter block must be 16 bytes")
        self._ecb = cryptolib.aes(key, MODE_ECB)
        self._counter = int.from_bytes(counter_block, "big")
        self._stream = b""

    def update(self, data):
        need = len(data)
        chunks = [self._stream]
        have = len(self._stream)
        while have < need:
            chunks.append(self._ecb.encrypt(self._counter.to_bytes(BLOCK, "big")))
            self._counter = (self._counter + 1) & ((1 << 128) - 1)
            have += BLOCK
        stream = b"".join(chunks)
        self._stream = stream[need:]
        out = bytearray(need)
        for i in range(need):
            out[i] = data[i] ^ stream[i]
        return bytes(out)


class MicroPythonCrypto:
    def random(self, size):
        return os.urandom(size)

    def sha256(self, data):
        return hashlib.sha256(data).digest()

    def sha512(self, data):
        raise NotImplementedError("no SHA-512 on this port (security 2)")

    def x25519_keypair(self):
        private = os.urandom(32)
        return private, x25519.public_key(private)

    def x25519(self, private, peer):
        return x25519.shared_secret(private, peer)

    def aes_ctr(self, key, counter_block):
        return AesCtr(key, counter_block)

    def gcm_encrypt(self, key, nonce, data):
        raise NotImplementedError("no AES-GCM on this port (security 2)")

    def gcm_decrypt(self, key, nonce, data):
        raise NotImplementedError("no AES-GCM on this port (security 2)")
