"""firmware/core/x25519.py (the MicroPython build's X25519) on CPython: RFC 7748 and ``cryptography``."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from firmware.core import x25519
from firmware.sim.crypto import x25519_from_private
from firmware.tests import rfc7748


def test_rfc7748_vectors_including_1000_iterations() -> None:
    assert rfc7748.failures(x25519.scalarmult, 1000) == []


def test_the_vectors_are_what_cryptography_computes() -> None:
    """The vector table itself is checked, so a typo there cannot pass against a matching bug."""

    def reference(k: bytes, u: bytes) -> bytes:
        return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))

    assert rfc7748.failures(reference, 1) == []


def test_agrees_with_cryptography_on_random_keys() -> None:
    for _ in range(50):
        private, peer = os.urandom(32), os.urandom(32)
        ours = x25519.public_key(private)
        assert ours == x25519_from_private(private)[1]
        _, peer_public = x25519_from_private(peer)
        expected = X25519PrivateKey.from_private_bytes(private).exchange(
            X25519PublicKey.from_public_bytes(peer_public)
        )
        assert x25519.shared_secret(private, peer_public) == expected


@pytest.mark.parametrize("point", [bytes(32), b"\x01" + bytes(31), (2**255 - 19).to_bytes(32, "little")])
def test_low_order_points_are_refused(point: bytes) -> None:
    # 0, 1 and p (non-canonical 0) all give the all-zero secret, which mbedtls rejects too.
    with pytest.raises(ValueError, match="low-order"):
        x25519.shared_secret(os.urandom(32), point)


def test_wrong_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        x25519.scalarmult(bytes(31), x25519.BASE_POINT)
