"""ESP-IDF wifi_provisioning, phone side: the protocomm client for security 0/1/2 over SoftAP (HTTP) or the
console, speaking to any ESP-IDF device or to petit's simulator. porto_contract/device/esp-provisioning.md
describes the wire format; the messages reuse the firmware's hand-written protobuf codec.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware.core import protobuf as pb
from firmware.core import protocomm as pc

if TYPE_CHECKING:
    from collections.abc import Callable

PAIR_ENDPOINT = "petit-pair"

STA_STATES = {0: "connected", 1: "connecting", 2: "disconnected", 3: "failed"}
FAIL_REASONS = {0: "auth error", 1: "network not found"}
AUTH_MODES = {
    0: "Open",
    1: "WEP",
    2: "WPA_PSK",
    3: "WPA2_PSK",
    4: "WPA_WPA2_PSK",
    5: "WPA2_ENTERPRISE",
    6: "WPA3_PSK",
    7: "WPA2_WPA3_PSK",
}
STATUS_NAMES = {
    0: "Success",
    1: "InvalidSecScheme",
    2: "InvalidProto",
    3: "TooManySessions",
    4: "InvalidArgument",
    5: "InternalError",
    6: "CryptoError",
    7: "InvalidSession",
}


class ProvError(Exception):
    """Provisioning failed; ``kind`` says where: transport, handshake, device, wifi."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# -- transports ------------------------------------------------------------------------------------------


class HttpTransport:
    """SoftAP: POST /<endpoint>, the headers esp_prov sends, the session cookie the device sets."""

    def __init__(self, service_name: str, timeout_s: float = 10.0) -> None:
        host, _, port = service_name.rpartition(":")
        if not host or not port.isdigit():
            host, port = service_name, "80"
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
        self.headers = {"Content-type": "application/x-www-form-urlencoded", "Accept": "text/plain"}
        self.service_name = service_name

    def connect(self) -> None:
        try:
            self.conn.connect()
        except OSError as error:
            raise ProvError("transport", f"device not found at {self.service_name}: {error}") from None

    def send(self, endpoint: str, data: bytes) -> bytes:
        try:
            self.conn.request("POST", "/" + endpoint, data, self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            raise ProvError("transport", f"{endpoint}: {type(error).__name__}: {error}") from None
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.headers["Cookie"] = cookie.split(";", 1)[0]
        if response.status != 200:
            status = response.getheader("X-Protocomm-Status")
            detail = f" ({STATUS_NAMES.get(int(status), status)})" if status and status.isdigit() else ""
            raise ProvError("device", f"{endpoint}: device answered HTTP {response.status}{detail}")
        return body

    def close(self) -> None:
        self.conn.close()


class ConsoleTransport:
    """The console transport: one line per request, ``<endpoint> <session> <hex>``, answered by one line
    ``<session> <hex>`` (or ``ERROR <status> <reason>``), to a device on the other end of a pipe (the
    simulator's --console)."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.process: subprocess.Popen[str] | None = None
        self.session = 0

    def connect(self) -> None:
        try:
            self.process = subprocess.Popen(  # noqa: S603 - the user's own command line
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
            )
        except OSError as error:
            raise ProvError("transport", f"device not found: cannot run {self.command[0]}: {error}") from None
        banner = self._readline()
        if not banner.startswith("READY"):
            raise ProvError("transport", f"device not found: console said {banner!r}")

    def _readline(self) -> str:
        assert self.process is not None
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise ProvError("transport", "the device's console closed")
        return line.strip()

    def send(self, endpoint: str, data: bytes) -> bytes:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(f"{endpoint} {self.session} {data.hex() or '-'}\n")
        self.process.stdin.flush()
        line = self._readline()
        if line.startswith("ERROR"):
            parts = line.split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else pc.INTERNAL_ERROR
            raise ProvError("device", f"{endpoint}: device refused ({STATUS_NAMES.get(status, status)})")
        session, _, payload = line.partition(" ")
        if session.isdigit() and int(session):
            self.session = int(session)
        return bytes.fromhex(payload) if payload and payload != "-" else b""

    def close(self) -> None:
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(timeout=5)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None


# -- security, client side -------------------------------------------------------------------------------


def _session_payload(data: bytes, sec_ver: int) -> tuple[int, dict[int, list[object]]]:
    try:
        return pc.parse_session_data(data, sec_ver)
    except (pc.ProtocommError, pb.DecodeError) as error:
        raise ProvError("handshake", f"unexpected session response: {error}") from None


class ClientSecurity0:
    version = 0

    def handshake(self, send: Callable[[bytes], bytes]) -> None:
        answer = send(pc.session_data(0, pb.encode([(1, pb.V, 0), (20, pb.M, b"")])))
        msg, inner = _session_payload(answer, 0)
        sr = pb.get_message(inner, 21)
        if msg != 1 or sr is None or pb.get_int(sr, 1) != pc.SUCCESS:
            raise ProvError("handshake", "security 0 session refused")

    def encrypt(self, data: bytes) -> bytes:
        return data

    def decrypt(self, data: bytes) -> bytes:
        return data


class ClientSecurity1:
    version = 1

    def __init__(self, pop: str, private_key: bytes | None = None) -> None:
        self.pop = pop.encode()
        self.private = (
            X25519PrivateKey.from_private_bytes(private_key) if private_key else X25519PrivateKey.generate()
        )
        self.ctr: Any = None

    def handshake(self, send: Callable[[bytes], bytes]) -> None:
        client_pub = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        sc0 = pb.encode([(1, pb.B, client_pub)])
        msg, inner = _session_payload(send(pc.session_data(1, pb.encode([(1, pb.V, 0), (20, pb.M, sc0)]))), 1)
        sr0 = pb.get_message(inner, 21)
        if msg != 1 or sr0 is None or pb.get_int(sr0, 1) != pc.SUCCESS:
            raise ProvError("handshake", "the device refused the session")
        device_pub, device_random = pb.get_bytes(sr0, 2), pb.get_bytes(sr0, 3)
        if len(device_pub) != 32 or len(device_random) != 16:
            raise ProvError("handshake", "malformed SessionResp0")
        try:
            shared = self.private.exchange(X25519PublicKey.from_public_bytes(device_pub))
        except ValueError:
            raise ProvError("handshake", "unusable device public key") from None
        key = pc.xor_bytes(shared, hashlib.sha256(self.pop).digest()) if self.pop else shared
        self.ctr = Cipher(algorithms.AES(key), modes.CTR(device_random)).encryptor()
        sc1 = pb.encode([(2, pb.B, self.ctr.update(device_pub))])
        try:
            answer = send(pc.session_data(1, pb.encode([(1, pb.V, 2), (22, pb.M, sc1)])))
        except ProvError as error:
            raise ProvError("handshake", f"the device rejected the PoP ({error})") from None
        msg, inner = _session_payload(answer, 1)
        sr1 = pb.get_message(inner, 23)
        if msg != 3 or sr1 is None or pb.get_int(sr1, 1) != pc.SUCCESS:
            raise ProvError("handshake", "the device rejected the PoP")
        if not pc.equal_bytes(self.ctr.update(pb.get_bytes(sr1, 3)), client_pub):
            raise ProvError("handshake", "the device failed to prove the PoP")

    def encrypt(self, data: bytes) -> bytes:
        return bytes(self.ctr.update(data))

    def decrypt(self, data: bytes) -> bytes:
        return bytes(self.ctr.update(data))


def _sha512(*parts: bytes) -> bytes:
    return hashlib.sha512(b"".join(parts)).digest()


class ClientSecurity2:
    """SRP6a client; supports both nonce behaviours (patch 1 counter, patch 0 constant 16-byte IV)."""

    version = 2

    def __init__(self, username: str, password: str, patch_ver: int = 1, a: bytes | None = None) -> None:
        self.username = username.encode()
        self.password = password.encode()
        self.patch_ver = patch_ver
        self.fixed_a = a
        self.key = b""
        self.nonce = bytearray()

    def _ephemeral(self) -> tuple[int, bytes]:
        while True:
            a = pc.bytes_to_int(self.fixed_a or os.urandom(32)) | (1 << 255)
            a_pub = pow(pc.G_3072, a, pc.N_3072)
            # The device wants A as exactly 384 bytes and hashes what it got: re-roll a short A.
            if (a_pub.bit_length() + 7) // 8 == pc.SRP_LEN or self.fixed_a:
                return a, pc.int_to_bytes(a_pub, pc.SRP_LEN)

    def handshake(self, send: Callable[[bytes], bytes]) -> None:
        a, a_pub = self._ephemeral()
        sc0 = pb.encode([(1, pb.B, self.username), (2, pb.B, a_pub)])
        msg, inner = _session_payload(send(pc.session_data(2, pb.encode([(1, pb.V, 0), (20, pb.M, sc0)]))), 2)
        sr0 = pb.get_message(inner, 21)
        if msg != 1 or sr0 is None or pb.get_int(sr0, 1) != pc.SUCCESS:
            raise ProvError("handshake", "the device refused the session")
        b_pub, salt = pb.get_bytes(sr0, 2), pb.get_bytes(sr0, 3)
        proof, session_key = srp_client_proof(
            self.username, self.password, salt, a=a, a_pub=a_pub, b_pub=b_pub
        )
        sc1 = pb.encode([(1, pb.B, proof)])
        try:
            answer = send(pc.session_data(2, pb.encode([(1, pb.V, 2), (22, pb.M, sc1)])))
        except ProvError as error:
            raise ProvError("handshake", f"the device rejected the username/password ({error})") from None
        msg, inner = _session_payload(answer, 2)
        sr1 = pb.get_message(inner, 23)
        if msg != 3 or sr1 is None or pb.get_int(sr1, 1) != pc.SUCCESS:
            raise ProvError("handshake", "the device rejected the username/password")
        if not pc.equal_bytes(pb.get_bytes(sr1, 2), _sha512(a_pub, proof, session_key)):
            raise ProvError("handshake", "the device failed to prove it knows the verifier")
        self.key = session_key[:32]
        self.nonce = bytearray(pb.get_bytes(sr1, 3))
        if len(self.nonce) != (12 if self.patch_ver else 16):
            raise ProvError("handshake", f"unexpected nonce length {len(self.nonce)}")

    def _step(self) -> bytes:
        nonce = bytes(self.nonce)
        if self.patch_ver:
            counter = int.from_bytes(self.nonce[8:], "big") + 1
            self.nonce[8:] = counter.to_bytes(4, "big")
        return nonce

    def encrypt(self, data: bytes) -> bytes:
        return AESGCM(self.key).encrypt(self._step(), data, None)

    def decrypt(self, data: bytes) -> bytes:
        try:
            return AESGCM(self.key).decrypt(self._step(), data, None)
        except InvalidTag:
            raise ProvError("device", "an answer failed authentication (session out of step)") from None


def srp_client_proof(
    username: bytes, password: bytes, salt: bytes, *, a: int, a_pub: bytes, b_pub: bytes
) -> tuple[bytes, bytes]:
    """(M, K) for the client: RFC 5054 group 3072, SHA-512, ESP-IDF's byte conventions."""
    n, g, size = pc.N_3072, pc.G_3072, pc.SRP_LEN
    b_int = pc.bytes_to_int(b_pub)
    if b_int % n == 0:
        raise ProvError("handshake", "device public key is 0 mod N")
    k = pc.bytes_to_int(_sha512(pc.int_to_bytes(n), pc.int_to_bytes(g, size)))
    u = pc.bytes_to_int(_sha512(a_pub, pc.int_to_bytes(b_int, size)))
    x = pc.bytes_to_int(_sha512(pc.int_to_bytes(pc.bytes_to_int(salt)), _sha512(username + b":" + password)))
    v = pow(g, x, n)
    secret = pow((b_int - k * v) % n, a + u * x, n)
    key = _sha512(pc.int_to_bytes(secret))
    h_ng = pc.xor_bytes(_sha512(pc.int_to_bytes(n)), _sha512(pc.int_to_bytes(g, size)))
    proof = _sha512(h_ng, _sha512(username), salt, a_pub, b_pub, key)
    return proof, key


# -- the provisioning conversation -----------------------------------------------------------------------


class Provisioner:
    """One device: version, session, then the wifi_provisioning and petit-pair endpoints."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.security: Any = None

    def version(self) -> dict[str, Any]:
        raw = self.transport.send("proto-ver", b"---")
        try:
            info = json.loads(raw)
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def establish(self, security: Any) -> None:
        self.security = security
        security.handshake(lambda data: self.transport.send("prov-session", data))

    def _call(self, endpoint: str, request: bytes) -> dict[int, list[object]]:
        answer = self.transport.send(endpoint, self.security.encrypt(request))
        plain = self.security.decrypt(answer)
        try:
            return pb.decode(plain)
        except pb.DecodeError as error:
            raise ProvError("device", f"{endpoint}: undecodable answer ({error})") from None

    def _inner(self, endpoint: str, request: bytes, field: int) -> tuple[dict[int, list[object]], int]:
        outer = self._call(endpoint, request)
        inner = pb.get_message(outer, field)
        if inner is None:
            raise ProvError("device", f"{endpoint}: answer lacks field {field}")
        return inner, pb.get_int(outer, 2)

    def set_pairing(
        self, pair_key: str, owner_key: str, access_token: str, mqtt_host: str, mqtt_port: int
    ) -> str:
        cmd = pb.encode(
            [
                (1, pb.B, pair_key),
                (2, pb.B, owner_key),
                (3, pb.B, access_token),
                (4, pb.B, mqtt_host),
                (5, pb.V, mqtt_port),
            ]
        )
        resp, _ = self._inner(PAIR_ENDPOINT, pb.encode([(1, pb.V, 0), (10, pb.M, cmd)]), 11)
        status = pb.get_int(resp, 1)
        if status != pc.SUCCESS:
            raise ProvError("device", f"the device refused the pairing material ({STATUS_NAMES.get(status)})")
        return pb.get_str(resp, 2)

    def pair_status(self) -> dict[str, Any]:
        resp, _ = self._inner(PAIR_ENDPOINT, pb.encode([(1, pb.V, 2), (12, pb.M, b"")]), 13)
        return {
            "statusCode": pb.get_int(resp, 2),
            "title": pb.get_str(resp, 3),
            "description": pb.get_str(resp, 4),
        }

    def scan(self, page: int = 4) -> list[dict[str, Any]]:
        start = pb.encode([(1, pb.V, 1), (3, pb.V, 5)])  # blocking, 5 channels per group (esp_prov, SoftAP)
        _, status = self._inner("prov-scan", pb.encode([(1, pb.V, 0), (10, pb.M, start)]), 11)
        if status != pc.SUCCESS:
            raise ProvError("device", f"scan refused ({STATUS_NAMES.get(status)})")
        resp, _ = self._inner("prov-scan", pb.encode([(1, pb.V, 2), (12, pb.M, b"")]), 13)
        count = pb.get_int(resp, 2)
        results: list[dict[str, Any]] = []
        while len(results) < count:
            ask = pb.encode([(1, pb.V, len(results)), (2, pb.V, min(page, count - len(results)))])
            resp, status = self._inner("prov-scan", pb.encode([(1, pb.V, 4), (14, pb.M, ask)]), 15)
            if status != pc.SUCCESS:
                raise ProvError("device", f"scan results refused ({STATUS_NAMES.get(status)})")
            entries = pb.get_all_bytes(resp, 1)
            if not entries:
                break
            for raw in entries:
                entry = pb.decode(raw)
                results.append(
                    {
                        "ssid": pb.get_bytes(entry, 1).decode(errors="replace"),
                        "channel": pb.get_int(entry, 2),
                        "rssi": pb.get_int32(entry, 3),
                        "bssid": pb.get_bytes(entry, 4).hex(),
                        "auth": AUTH_MODES.get(pb.get_int(entry, 5), "?"),
                    }
                )
        return results

    def set_config(self, ssid: str, passphrase: str) -> None:
        cmd = pb.encode([(1, pb.B, ssid), (2, pb.B, passphrase)])
        resp, _ = self._inner("prov-config", pb.encode([(1, pb.V, 2), (12, pb.M, cmd)]), 13)
        status = pb.get_int(resp, 1)
        if status != pc.SUCCESS:
            raise ProvError("device", f"the device refused the Wi-Fi config ({STATUS_NAMES.get(status)})")

    def apply_config(self) -> None:
        resp, _ = self._inner("prov-config", pb.encode([(1, pb.V, 4), (14, pb.M, b"")]), 15)
        status = pb.get_int(resp, 1)
        if status != pc.SUCCESS:
            raise ProvError("device", f"the device refused to apply the config ({STATUS_NAMES.get(status)})")

    def wifi_status(self) -> dict[str, Any]:
        resp, _ = self._inner("prov-config", pb.encode([(1, pb.V, 0), (10, pb.M, b"")]), 11)
        state = STA_STATES.get(pb.get_int(resp, 2), "unknown")
        out: dict[str, Any] = {"state": state}
        if state == "failed":
            out["reason"] = FAIL_REASONS.get(pb.get_int(resp, 10), "unknown")
        connected = pb.get_message(resp, 11)
        if connected is not None:
            out["ip"] = pb.get_str(connected, 1)
            out["ssid"] = pb.get_bytes(connected, 3).decode(errors="replace")
        return out

    def ctrl_reset(self) -> None:
        _, status = self._inner("prov-ctrl", pb.encode([(1, pb.V, 1), (11, pb.M, b"")]), 12)
        if status != pc.SUCCESS:
            raise ProvError("device", f"the device refused to reset ({STATUS_NAMES.get(status)})")


def security_for(
    info: dict[str, Any], sec_ver: int | None, pop: str, username: str, password: str
) -> tuple[Any, bool]:
    """The client security for the device's proto-ver answer; (security, auto-detected?)."""
    prov = info.get("prov") if isinstance(info.get("prov"), dict) else {}
    detected = sec_ver is None
    if sec_ver is None:
        advertised = prov.get("sec_ver") if isinstance(prov, dict) else None
        caps = prov.get("cap", []) if isinstance(prov, dict) else []
        # esp_prov's rule for firmware that predates sec_ver: no_sec means 0, else 1.
        sec_ver = advertised if isinstance(advertised, int) else (0 if "no_sec" in caps else 1)
    if sec_ver == 0:
        return ClientSecurity0(), detected
    if sec_ver == 1:
        return ClientSecurity1(pop), detected
    if sec_ver == 2:
        patch = prov.get("sec_patch_ver", 0) if isinstance(prov, dict) else 0
        return ClientSecurity2(
            username, password or pop, int(patch) if isinstance(patch, int) else 0
        ), detected
    raise ProvError("handshake", f"unsupported security scheme {sec_ver}")
