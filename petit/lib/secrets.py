"""One-time secrets every ownership flow hands out: pair keys, claim codes, provisioning tokens.

Two shapes: long random secrets (192 bits, URL-safe) that only machines handle, and short human-typable codes
(Crockford base32) that a person may read off a label or type into a device; the short ones are guessable
offline, so every flow that accepts them must also limit attempts (``petit.lib.throttle``).

Only digests are stored. The digest is an HMAC keyed with a server-side pepper, so a leaked table of short
codes cannot be brute-forced without also stealing the pepper. No I/O and no framework imports.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Crockford's base32: no I, L, O or U, so nothing is misread (0/O, 1/I/L) or spells words by accident.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: 8 symbols = 40 bits: easy to type, and with a handful of attempts per lockout window, not guessable.
DEFAULT_CODE_LENGTH = 8
#: Bytes of randomness in a machine secret: 192 bits, comfortably above the 128 bits the design requires.
SECRET_BYTES = 24

_CODE_READS_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


def new_secret() -> str:
    """A random URL-safe secret (192 bits) for machines: pair keys, provisioning tokens."""
    return secrets.token_urlsafe(SECRET_BYTES)


def new_code(length: int = DEFAULT_CODE_LENGTH) -> str:
    """A random human-typable code in Crockford base32 (5 bits per symbol)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalize_code(code: str) -> str:
    """What a person meant to type: case, dashes and spaces ignored, look-alike letters read as digits."""
    return code.strip().upper().translate(_CODE_READS_AS)


def derive_pepper(master_secret: str, purpose: str = "petit:one-time-secrets") -> bytes:
    """A key for secret digests derived from a server secret (the JWT secret), separated by ``purpose`` so the
    digest key can never double as a token signing key."""
    return hmac.new(master_secret.encode(), purpose.encode(), hashlib.sha256).digest()


class SecretHasher:
    """Keyed digests of one-time secrets and their constant-time comparison."""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < 16:
            raise ValueError("pepper must be at least 16 bytes")
        self._pepper = pepper

    def digest(self, secret: str) -> str:
        """Hex HMAC-SHA256 of ``secret`` (64 chars); store this, never the secret."""
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def code_digest(self, code: str) -> str:
        """Digest of a human-typed code after normalization, so ``abcd-efgh`` matches ``ABCDEFGH``."""
        return self.digest(normalize_code(code))

    def matches(self, secret: str, stored_digest: str) -> bool:
        """Constant-time: the time taken never tells how much of a guess was right."""
        return hmac.compare_digest(self.digest(secret), stored_digest)

    def code_matches(self, code: str, stored_digest: str) -> bool:
        return hmac.compare_digest(self.code_digest(code), stored_digest)


__all__ = [
    "CODE_ALPHABET",
    "DEFAULT_CODE_LENGTH",
    "SecretHasher",
    "derive_pepper",
    "new_code",
    "new_secret",
    "normalize_code",
]
