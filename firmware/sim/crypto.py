"""The protocomm crypto port (firmware/core/protocomm.py) on the host, over ``cryptography``."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class HostCrypto:
    def random(self, size: int) -> bytes:
        return os.urandom(size)

    def sha256(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def sha512(self, data: bytes) -> bytes:
        return hashlib.sha512(data).digest()

    def x25519_keypair(self) -> tuple[Any, bytes]:
        private = X25519PrivateKey.generate()
        return private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def x25519(self, private: X25519PrivateKey, peer: bytes) -> bytes:
        # cryptography raises ValueError for a low-order point (an all-zero shared secret), as mbedtls fails.
        return private.exchange(X25519PublicKey.from_public_bytes(peer))

    def aes_ctr(self, key: bytes, counter_block: bytes) -> Any:
        return Cipher(algorithms.AES(key), modes.CTR(counter_block)).encryptor()

    def gcm_encrypt(self, key: bytes, nonce: bytes, data: bytes) -> bytes:
        return AESGCM(key).encrypt(nonce, data, None)

    def gcm_decrypt(self, key: bytes, nonce: bytes, data: bytes) -> bytes:
        try:
            return AESGCM(key).decrypt(nonce, data, None)
        except InvalidTag:
            raise ValueError("bad tag") from None


def x25519_from_private(private_bytes: bytes) -> tuple[Any, bytes]:
    """A fixed key pair (test vectors)."""
    private = X25519PrivateKey.from_private_bytes(private_bytes)
    return private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
