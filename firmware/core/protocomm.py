"""ESP-IDF protocomm, device side: the ``prov-session`` handshake (security 0, 1, 2), one session at a
time, and the session cipher applied to every other endpoint. Transport-neutral: the HTTP server and the
console feed it (endpoint, body, session id) and send back what it returns.

Byte-compatible with ESP-IDF v5.x ``components/protocomm`` (security1.c, security2.c, esp_srp.c) as read
by esp_prov and esp-rainmaker-cli. Pure logic and big-integer arithmetic; the primitives come from a
crypto port so the host uses ``cryptography`` and a MicroPython build can bring its own:

  crypto: random(n) -> bytes; sha256(data) -> bytes; sha512(data) -> bytes;
          x25519_keypair() -> (private, public32); x25519(private, peer_public32) -> shared32;
          aes_ctr(key, counter_block16) -> object with update(data) -> bytes (one running keystream);
          gcm_encrypt(key, nonce, data) -> ciphertext||tag; gcm_decrypt(key, nonce, data) -> plaintext
          (raises ValueError on a bad tag)

Policy beyond ESP-IDF (ESP-IDF lets any new client replace the open session and never limits guesses):
- a session whose handshake finished is not replaced by another client until it has been idle for
  ``idle_s``; a half-done handshake is replaced at once, so a client that gave up does not lock others out;
- after ``max_failures`` failed handshakes in a row (wrong PoP or password, bad proof), new handshakes are
  refused for ``lockout_s`` (doubling on each further lockout, up to ``lockout_max_s``).
Every failure closes the session it happened in and leaves the device provisionable.
"""

from firmware.core import protobuf as pb

try:  # noqa: SIM105 - MicroPython has no contextlib
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython only
    pass

# constants.proto Status
SUCCESS = 0
INVALID_SEC_SCHEME = 1
INVALID_PROTO = 2
TOO_MANY_SESSIONS = 3
INVALID_ARGUMENT = 4
INTERNAL_ERROR = 5
CRYPTO_ERROR = 6
INVALID_SESSION = 7

SESSION_ENDPOINT = "prov-session"
VERSION_ENDPOINT = "proto-ver"

# RFC 5054 3072-bit group, g = 5 (ESP-IDF esp_srp.c ESP_NG_3072).
N_3072 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
G_3072 = 5
SRP_LEN = 384  # bytes of N; ESP-IDF wants A exactly this long
SEC1_KEY_LEN = 32
SEC1_RANDOM_LEN = 16
SEC2_PROOF_LEN = 64
SEC2_SESSION_ID_LEN = 8


class ProtocommError(Exception):
    """The request failed: the transport answers with an error (HTTP 500, as ESP-IDF's httpd does)."""

    def __init__(self, reason: str, status: int = INTERNAL_ERROR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def int_to_bytes(value: int, size: int = 0) -> bytes:
    """Big-endian; minimal length when ``size`` is 0 (mbedtls_mpi_write_binary of mpi_size bytes)."""
    if not size:
        size = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(size, "big")


def bytes_to_int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def equal_bytes(a: bytes, b: bytes) -> bool:
    """Constant-time comparison (mbedtls_ct_memcmp): no early exit on the first differing byte."""
    diff = len(a) ^ len(b)
    for i in range(min(len(a), len(b))):
        diff |= a[i] ^ b[i]
    return diff == 0


def xor_bytes(a: bytes, b: bytes) -> bytes:
    # MicroPython's zip() has no strict=; callers pass equal lengths.
    return bytes(a[i] ^ b[i] for i in range(min(len(a), len(b))))


# -- SessionData -----------------------------------------------------------------------------------------


def session_data(sec_ver: int, payload: bytes) -> bytes:
    """SessionData{sec_ver=2; sec0=10 | sec1=11 | sec2=12}."""
    return pb.encode([(2, pb.V, sec_ver), (10 + sec_ver, pb.M, payload)])


def parse_session_data(body: bytes, sec_ver: int) -> "tuple[int, dict[int, list[object]]]":
    """(msg type, the inner payload's oneof fields) of a SessionData for ``sec_ver``."""
    outer = pb.decode(body)
    if pb.get_int(outer, 2) != sec_ver:
        raise ProtocommError("security version mismatch", INVALID_SEC_SCHEME)
    inner = pb.get_message(outer, 10 + sec_ver)
    if inner is None:
        raise ProtocommError("no payload for this security version", INVALID_PROTO)
    return pb.get_int(inner, 1), inner


# -- security schemes ------------------------------------------------------------------------------------


class Security0:
    """No security: the handshake is one empty exchange, and data passes in clear."""

    version = 0
    patch_version = 0

    def __init__(self) -> None:
        self.established = False
        self.handshake_failed = False

    def handshake(self, body: bytes) -> bytes:
        msg, inner = parse_session_data(body, 0)
        if msg != 0 or pb.get_message(inner, 20) is None:
            raise ProtocommError("expected S0_Session_Command", INVALID_PROTO)
        self.established = True
        # Sec0Payload{msg=S0_Session_Response, sr{status=Success}}
        return session_data(0, pb.encode([(1, pb.V, 1), (21, pb.M, b"")]))

    def encrypt(self, data: bytes) -> bytes:
        return data

    def decrypt(self, data: bytes) -> bytes:
        return data


class Security1:
    """X25519 + PoP + AES-256-CTR, one keystream for both directions (security1.c)."""

    version = 1
    patch_version = 0

    def __init__(self, crypto: "Any", pop: bytes) -> None:
        self.crypto = crypto
        self.pop = pop
        self.established = False
        self.handshake_failed = False
        self._state = 0
        self._ctr = None  # type: Any
        self._client_pub = b""
        self._device_pub = b""

    def handshake(self, body: bytes) -> bytes:
        msg, inner = parse_session_data(body, 1)
        if msg == 0 and self._state == 0:
            return self._command0(inner)
        if msg == 2 and self._state == 1:
            return self._command1(inner)
        raise ProtocommError("session message out of order", INVALID_SESSION)

    def _command0(self, inner: "dict[int, list[object]]") -> bytes:
        sc0 = pb.get_message(inner, 20)
        client_pub = pb.get_bytes(sc0, 1) if sc0 is not None else b""
        if len(client_pub) != SEC1_KEY_LEN:
            raise ProtocommError("client public key must be 32 bytes", INVALID_ARGUMENT)
        private, device_pub = self.crypto.x25519_keypair()
        try:
            shared = self.crypto.x25519(private, client_pub)
        except ValueError:
            raise ProtocommError("unusable client public key", CRYPTO_ERROR) from None
        key = xor_bytes(shared, self.crypto.sha256(self.pop)) if self.pop else shared
        device_random = self.crypto.random(SEC1_RANDOM_LEN)
        self._ctr = self.crypto.aes_ctr(key, device_random)
        self._client_pub = client_pub
        self._device_pub = device_pub
        self._state = 1
        sr0 = pb.encode([(1, pb.V, SUCCESS), (2, pb.B, device_pub), (3, pb.B, device_random)])
        return session_data(1, pb.encode([(1, pb.V, 1), (21, pb.M, sr0)]))

    def _command1(self, inner: "dict[int, list[object]]") -> bytes:
        sc1 = pb.get_message(inner, 22)
        verify = pb.get_bytes(sc1, 2) if sc1 is not None else b""
        if len(verify) != SEC1_KEY_LEN:
            raise ProtocommError("client verify data must be 32 bytes", INVALID_ARGUMENT)
        if not equal_bytes(self._ctr.update(verify), self._device_pub):
            # The PoP is wrong (or the client is): ESP-IDF posts CREDENTIALS_MISMATCH and fails the request.
            self.handshake_failed = True
            raise ProtocommError("PoP mismatch", CRYPTO_ERROR)
        device_verify = self._ctr.update(self._client_pub)
        self._state = 2
        self.established = True
        sr1 = pb.encode([(1, pb.V, SUCCESS), (3, pb.B, device_verify)])
        return session_data(1, pb.encode([(1, pb.V, 3), (23, pb.M, sr1)]))

    def encrypt(self, data: bytes) -> bytes:
        return bytes(self._ctr.update(data))

    def decrypt(self, data: bytes) -> bytes:
        return bytes(self._ctr.update(data))


def srp_hash(crypto: "Any", *parts: bytes) -> bytes:
    return bytes(crypto.sha512(b"".join(parts)))


def srp_verifier(crypto: "Any", username: bytes, password: bytes, salt: bytes) -> bytes:
    """v = g^x mod N, x = H(s | H(I ":" p)): what the factory stores instead of the password."""
    x = bytes_to_int(srp_hash(crypto, salt, srp_hash(crypto, username + b":" + password)))
    return int_to_bytes(pow(G_3072, x, N_3072))


class Security2:
    """SRP6a (RFC 5054 3072-bit, SHA-512) + AES-256-GCM with the patch-1 nonce counter (security2.c)."""

    version = 2
    patch_version = 1

    def __init__(self, crypto: "Any", salt: bytes, verifier: bytes) -> None:
        self.crypto = crypto
        self.salt = salt
        self.verifier = bytes_to_int(verifier)
        self.established = False
        self.handshake_failed = False
        self._state = 0
        self._key = b""
        self._nonce = b""
        self._counter = 0
        self._username = b""
        self._a_pub = b""
        self._b_pub = b""
        self._session_key = b""

    def handshake(self, body: bytes) -> bytes:
        msg, inner = parse_session_data(body, 2)
        if msg == 0 and self._state == 0:
            return self._command0(inner)
        if msg == 2 and self._state == 1:
            return self._command1(inner)
        raise ProtocommError("session message out of order", INVALID_SESSION)

    def _command0(self, inner: "dict[int, list[object]]") -> bytes:
        sc0 = pb.get_message(inner, 20)
        if sc0 is None:
            raise ProtocommError("expected S2SessionCmd0", INVALID_PROTO)
        username = pb.get_bytes(sc0, 1)
        a_pub = pb.get_bytes(sc0, 2)
        if not username or len(username) > 128 or len(a_pub) != SRP_LEN:
            raise ProtocommError("bad username or client public key length", INVALID_ARGUMENT)
        a_int = bytes_to_int(a_pub)
        if a_int % N_3072 == 0:
            raise ProtocommError("client public key is 0 mod N", CRYPTO_ERROR)
        crypto = self.crypto
        k = bytes_to_int(srp_hash(crypto, int_to_bytes(N_3072), int_to_bytes(G_3072, SRP_LEN)))
        b = bytes_to_int(crypto.random(32))
        b_int = (k * self.verifier + pow(G_3072, b, N_3072)) % N_3072
        b_pub = int_to_bytes(b_int)
        u = bytes_to_int(srp_hash(crypto, int_to_bytes(a_int, SRP_LEN), int_to_bytes(b_int, SRP_LEN)))
        if u == 0:
            raise ProtocommError("u is 0", CRYPTO_ERROR)
        secret = pow(a_int * pow(self.verifier, u, N_3072), b, N_3072)
        self._session_key = srp_hash(crypto, int_to_bytes(secret))
        self._username = username
        self._a_pub = a_pub
        self._b_pub = b_pub
        self._state = 1
        sr0 = pb.encode([(1, pb.V, SUCCESS), (2, pb.B, b_pub), (3, pb.B, self.salt)])
        return session_data(2, pb.encode([(1, pb.V, 1), (21, pb.M, sr0)]))

    def _command1(self, inner: "dict[int, list[object]]") -> bytes:
        sc1 = pb.get_message(inner, 22)
        proof = pb.get_bytes(sc1, 1) if sc1 is not None else b""
        if len(proof) != SEC2_PROOF_LEN:
            raise ProtocommError("client proof must be 64 bytes", INVALID_ARGUMENT)
        crypto = self.crypto
        h_n = srp_hash(crypto, int_to_bytes(N_3072))
        h_g = srp_hash(crypto, int_to_bytes(G_3072, SRP_LEN))
        expected = srp_hash(
            crypto,
            xor_bytes(h_n, h_g),
            srp_hash(crypto, self._username),
            self.salt,
            self._a_pub,
            self._b_pub,
            self._session_key,
        )
        if not equal_bytes(proof, expected):
            self.handshake_failed = True
            raise ProtocommError("client proof mismatch", CRYPTO_ERROR)
        device_proof = srp_hash(crypto, self._a_pub, proof, self._session_key)
        self._key = self._session_key[:32]
        # Patch 1: 8 random session-id bytes || a big-endian counter starting at 1.
        self._nonce = bytes(crypto.random(SEC2_SESSION_ID_LEN))
        self._counter = 1
        self._state = 2
        self.established = True
        sr1 = pb.encode(
            [(1, pb.V, SUCCESS), (2, pb.B, device_proof), (3, pb.B, self._nonce + self._counter_bytes())]
        )
        return session_data(2, pb.encode([(1, pb.V, 3), (23, pb.M, sr1)]))

    def _counter_bytes(self) -> bytes:
        return self._counter.to_bytes(4, "big")

    def _next_nonce(self) -> bytes:
        if self._counter == 0 or self._counter > 0xFFFFFFFF:
            # ESP-IDF refuses to reuse a nonce once the 32-bit counter wraps.
            raise ProtocommError("nonce counter exhausted", CRYPTO_ERROR)
        nonce = self._nonce + self._counter_bytes()
        self._counter += 1
        return nonce

    def encrypt(self, data: bytes) -> bytes:
        return bytes(self.crypto.gcm_encrypt(self._key, self._next_nonce(), data))

    def decrypt(self, data: bytes) -> bytes:
        nonce = self._next_nonce()
        try:
            return bytes(self.crypto.gcm_decrypt(self._key, nonce, data))
        except ValueError:
            raise ProtocommError("bad GCM tag", CRYPTO_ERROR) from None


# -- the session slot and endpoint dispatch --------------------------------------------------------------

DEFAULT_LIMITS = {"idle_s": 30.0, "max_failures": 5, "lockout_s": 30.0, "lockout_max_s": 600.0}


class Protocomm:
    """Endpoints by name; ``handle`` runs one request. ``new_security()`` makes a fresh scheme instance."""

    def __init__(  # noqa: PLR0917 - the ports, as machine.Device takes them
        self,
        new_security: "Any",
        endpoints: "dict[str, Any]",
        version_info: "Any",
        clock: "Any",
        random: "Any",
        limits: "dict[str, float] | None" = None,
    ) -> None:
        self.new_security = new_security
        self.endpoints = endpoints
        self.version_info = version_info
        self.clock = clock
        self.random = random
        self.limits = dict(DEFAULT_LIMITS)
        if limits:
            self.limits.update(limits)
        self.session_id = 0
        self.security = None  # type: Any
        self.last_used = 0.0
        self.failures = 0
        self.lockouts = 0
        self.locked_until = 0.0
        self.stats = {"sessions": 0, "failed_handshakes": 0, "lockouts": 0, "errors": 0}

    def close_session(self) -> None:
        self.session_id = 0
        self.security = None

    def _new_session_id(self) -> int:
        while True:
            value = bytes_to_int(self.random(4))
            if value and value != self.session_id:
                return value

    def handle(self, endpoint: str, body: bytes, session_id: int) -> "tuple[bytes, int]":
        """Run one request; returns (response body, session id to announce or 0). Raises ProtocommError."""
        try:
            return self._handle(endpoint, body, session_id)
        except ProtocommError:
            self.stats["errors"] += 1
            raise
        except pb.DecodeError as error:
            self.stats["errors"] += 1
            raise ProtocommError("malformed protobuf: " + str(error), INVALID_PROTO) from None

    def _handle(self, endpoint: str, body: bytes, session_id: int) -> "tuple[bytes, int]":
        if endpoint == VERSION_ENDPOINT:
            return self.version_info().encode(), 0
        if endpoint == SESSION_ENDPOINT:
            return self._session(body, session_id)
        handler = self.endpoints.get(endpoint)
        if handler is None:
            raise ProtocommError("no such endpoint " + repr(endpoint), INVALID_ARGUMENT)
        security = self.security
        if not session_id or session_id != self.session_id or security is None or not security.established:
            raise ProtocommError("no established session", INVALID_SESSION)
        self.last_used = self.clock.now()
        plain = security.decrypt(body)
        answer = handler(plain)
        return security.encrypt(answer), 0

    def _session(self, body: bytes, session_id: int) -> "tuple[bytes, int]":
        now = self.clock.now()
        announce = 0
        if not session_id or session_id != self.session_id or self.security is None:
            current = self.security
            if current is not None and current.established and now - self.last_used < self.limits["idle_s"]:
                raise ProtocommError("another client holds the session", TOO_MANY_SESSIONS)
            if now < self.locked_until:
                raise ProtocommError("too many failed handshakes; try later", TOO_MANY_SESSIONS)
            self.security = self.new_security()
            self.session_id = self._new_session_id()
            self.stats["sessions"] += 1
            announce = self.session_id
        security = self.security
        if security.established:
            raise ProtocommError("session already established", INVALID_SESSION)
        self.last_used = now
        try:
            answer = security.handshake(body)
        except (ProtocommError, pb.DecodeError):
            # A failed or garbled step ends the session: the client starts over with a new one.
            if security.handshake_failed:
                self._count_failure(now)
            self.close_session()
            raise
        if security.established:
            self.failures = 0
            self.lockouts = 0
        return answer, announce

    def _count_failure(self, now: float) -> None:
        self.stats["failed_handshakes"] += 1
        self.failures += 1
        if self.failures >= self.limits["max_failures"]:
            self.failures = 0
            self.lockouts += 1
            self.stats["lockouts"] += 1
            seconds = min(self.limits["lockout_s"] * 2 ** (self.lockouts - 1), self.limits["lockout_max_s"])
            self.locked_until = now + seconds
