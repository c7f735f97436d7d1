"""ESP-IDF wifi_provisioning endpoints over protocomm, driving the same state machine as the local API.

``prov-config`` (WiFiConfigPayload), ``prov-scan`` (WiFiScanPayload), ``prov-ctrl`` (WiFiCtrlPayload) keep
ESP-IDF v5.x field numbers and enum values (components/wifi_provisioning/proto); ``petit-pair`` is petit's
custom endpoint, the analogue of RainMaker's ``cloud_user_assoc``: it carries the pairing material petit's
StartPairing returns. The .proto text is in porto_contract/device/esp-provisioning.md.

Flow: petit-pair (keys) → prov-config SetConfig (ssid, passphrase) → ApplyConfig, which hands the state
machine exactly the configuration ``POST /config/data`` would (checked by the same rules) → GetStatus.
"""

from firmware.core import localapi
from firmware.core import protobuf as pb
from firmware.core import protocomm as pc
from firmware.core import status as st

try:  # noqa: SIM105 - MicroPython has no contextlib
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython only
    pass

PROV_VERSION = "v1.1"
PAIR_ENDPOINT = "petit-pair"
PETIT_PROV_VERSION = "v1"

# wifi_constants.proto
STA_CONNECTED = 0
STA_CONNECTING = 1
STA_DISCONNECTED = 2
STA_FAILED = 3
FAIL_AUTH = 0
FAIL_NOT_FOUND = 1
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

SCAN_PAGE_MAX = 16
SCAN_RESULTS_MAX = 32


def _payload(msg: int, field: int, body: bytes, status: "int | None" = None) -> bytes:
    fields = [(1, pb.V, msg)]  # type: list[Any]
    if status is not None:
        fields.append((2, pb.V, status))
    fields.append((field, pb.M, body))
    return pb.encode(fields)


def _status(code: int) -> bytes:
    return pb.encode([(1, pb.V, code)])


def _bssid(entry: "dict[str, Any]") -> bytes:
    given = entry.get("bssid")
    if isinstance(given, (bytes, bytearray)) and len(given) == 6:
        return bytes(given)
    # The simulator's networks have no BSSID: a stable, locally administered one from the SSID (FNV-1a).
    h = 0x811C9DC5
    for byte in str(entry.get("ssid", "")).encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return bytes([0x02, 0x50, (h >> 24) & 0xFF, (h >> 16) & 0xFF, (h >> 8) & 0xFF, h & 0xFF])


class WifiProv:
    """The provisioning manager's state for one device: pairing material, credentials, applied or not."""

    def __init__(self, device: "Any", sec_ver: int, patch_ver: int, has_pop: bool) -> None:  # noqa: FBT001
        self.device = device
        self.sec_ver = sec_ver
        self.patch_ver = patch_ver
        self.has_pop = has_pop
        self.pairing = None  # type: dict[str, Any] | None
        self.creds = None  # type: dict[str, Any] | None
        self.applied = False
        self.scan_results = []  # type: list[dict[str, Any]]

    def endpoints(self) -> "dict[str, Any]":
        return {
            "prov-config": self.config,
            "prov-scan": self.scan,
            "prov-ctrl": self.ctrl,
            PAIR_ENDPOINT: self.pair,
        }

    def version_info(self) -> str:
        """proto-ver's JSON in ESP-IDF's key order (manager.c wifi_prov_get_info_json)."""
        caps = []
        if self.sec_ver == 0:
            caps.append('"no_sec"')
        if self.sec_ver == 1 and not self.has_pop:
            caps.append('"no_pop"')
        caps.append('"wifi_scan"')
        prov = '"ver":"' + PROV_VERSION + '","sec_ver":' + str(self.sec_ver)
        if self.sec_ver == 2:
            prov += ',"sec_patch_ver":' + str(self.patch_ver)
        prov += ',"cap":[' + ",".join(caps) + "]"
        petit = '"ver":"' + PETIT_PROV_VERSION + '","cap":["pair"]'
        return '{"prov":{' + prov + '},"petit":{' + petit + "}}"

    # -- prov-config --------------------------------------------------------------------------------

    def config(self, body: bytes) -> bytes:
        request = pb.decode(body)
        msg = pb.get_int(request, 1)
        if msg == 0:
            return _payload(1, 11, self._get_status())
        if msg == 2:
            cmd = pb.get_message(request, 12)
            if cmd is None:
                raise pc.ProtocommError("CmdSetConfig missing", pc.INVALID_PROTO)
            return _payload(3, 13, _status(self._set_config(cmd)))
        if msg == 4:
            return _payload(5, 15, _status(self._apply()))
        raise pc.ProtocommError("unknown WiFiConfig message", pc.INVALID_PROTO)

    def _get_status(self) -> bytes:
        device = self.device
        status = device.status()
        code = status["statusCode"]
        if device.paired() or (self.applied and code in (2, 3, 4, 6)):
            return pb.encode([(1, pb.V, pc.SUCCESS), (2, pb.V, STA_CONNECTED), (11, pb.M, self._connected())])
        if not self.applied:
            return pb.encode([(1, pb.V, pc.SUCCESS), (2, pb.V, STA_DISCONNECTED)])
        if code == st.WIFI_ERROR:
            reason = FAIL_NOT_FOUND if status["title"] == st.WIFI_NO_AP_FOUND else FAIL_AUTH
            return pb.encode([(1, pb.V, pc.SUCCESS), (2, pb.V, STA_FAILED), (10, pb.O, reason)])
        return pb.encode([(1, pb.V, pc.SUCCESS), (2, pb.V, STA_CONNECTING)])

    def _connected(self) -> bytes:
        wifi = self.device.wifi
        ssid = str((self.device.config or {}).get("ssid", ""))
        entry = {"ssid": ssid, "ch": 0, "sec": 0}  # type: dict[str, Any]
        for network in self.scan_results or wifi.scan():
            if network.get("ssid") == ssid:
                entry = network
        ip = wifi.ip() if hasattr(wifi, "ip") else ""
        auth = AUTH_WPA2_PSK if entry.get("sec") else AUTH_OPEN
        return pb.encode(
            [
                (1, pb.B, ip),
                (2, pb.V, auth),
                (3, pb.B, ssid),
                (4, pb.B, _bssid(entry)),
                (5, pb.I, int(entry.get("ch") or 0)),
            ]
        )

    def _set_config(self, cmd: "dict[int, list[object]]") -> int:
        if self.applied or self.device.paired():
            return pc.INTERNAL_ERROR  # ESP-IDF: credentials already received (reset first)
        ssid = pb.get_bytes(cmd, 1)
        passphrase = pb.get_bytes(cmd, 2)
        if not 1 <= len(ssid) <= 32 or len(passphrase) > 63:
            return pc.INVALID_ARGUMENT
        try:
            self.creds = {"ssid": ssid.decode(), "password": passphrase.decode()}
        except UnicodeError:
            return pc.INVALID_ARGUMENT
        return pc.SUCCESS

    def _apply(self) -> int:
        if self.creds is None or self.pairing is None:
            return pc.INVALID_ARGUMENT
        device = self.device
        if self.applied or device.paired() or device.busy():
            return pc.INTERNAL_ERROR
        config = dict(self.pairing)
        config.update(self.creds)
        try:
            config = localapi.check_config(config)
        except localapi.ApiError:
            return pc.INVALID_ARGUMENT
        device.submit_config(config)
        self.applied = True
        return pc.SUCCESS

    # -- prov-scan ----------------------------------------------------------------------------------

    def scan(self, body: bytes) -> bytes:
        request = pb.decode(body)
        msg = pb.get_int(request, 1)
        if msg == 0:
            # Blocking or not, the simulated radio answers at once; a real one would report unfinished.
            self.scan_results = list(self.device.wifi.scan())[:SCAN_RESULTS_MAX]
            return _payload(1, 11, b"", pc.SUCCESS)
        if msg == 2:
            count = len(self.scan_results)
            return _payload(3, 13, pb.encode([(1, pb.V, 1), (2, pb.V, count)]), pc.SUCCESS)
        if msg == 4:
            cmd = pb.get_message(request, 14) or {}
            start, count = pb.get_int(cmd, 1), pb.get_int(cmd, 2)
            if count > SCAN_PAGE_MAX or start + count > len(self.scan_results):
                return _payload(5, 15, b"", pc.INVALID_ARGUMENT)
            entries = [(1, pb.M, self._scan_entry(e)) for e in self.scan_results[start : start + count]]
            return _payload(5, 15, pb.encode(entries), pc.SUCCESS)
        raise pc.ProtocommError("unknown WiFiScan message", pc.INVALID_PROTO)

    def _scan_entry(self, entry: "dict[str, Any]") -> bytes:
        return pb.encode(
            [
                (1, pb.B, str(entry.get("ssid", ""))),
                (2, pb.V, int(entry.get("ch") or 0)),
                (3, pb.I, int(entry.get("rssi") or 0)),
                (4, pb.B, _bssid(entry)),
                (5, pb.V, AUTH_WPA2_PSK if entry.get("sec") else AUTH_OPEN),
            ]
        )

    # -- prov-ctrl ----------------------------------------------------------------------------------

    def ctrl(self, body: bytes) -> bytes:
        request = pb.decode(body)
        msg = pb.get_int(request, 1)
        code = self.device.status()["statusCode"]
        failed = self.applied and code in (st.WIFI_ERROR, st.SERVER_FAILED) and not self.device.paired()
        if msg == 1:
            # After a failed attempt the app may send new credentials on the same session.
            if not failed:
                return _payload(2, 12, b"", pc.INTERNAL_ERROR)
            self.applied = False
            self.creds = None
            return _payload(2, 12, b"", pc.SUCCESS)
        if msg == 3:
            if self.device.paired() or (self.applied and not failed):
                return _payload(4, 14, b"", pc.INTERNAL_ERROR)
            self.applied = False
            self.creds = None
            return _payload(4, 14, b"", pc.SUCCESS)
        raise pc.ProtocommError("unknown WiFiCtrl message", pc.INVALID_PROTO)

    # -- petit-pair ---------------------------------------------------------------------------------

    def pair(self, body: bytes) -> bytes:
        request = pb.decode(body)
        msg = pb.get_int(request, 1)
        if msg == 0:
            cmd = pb.get_message(request, 10)
            if cmd is None:
                raise pc.ProtocommError("CmdSetPairing missing", pc.INVALID_PROTO)
            code = self._set_pairing(cmd)
            device_id = str(self.device.identity.get("deviceId", ""))
            answer = pb.encode([(1, pb.V, code), (2, pb.B, device_id if code == pc.SUCCESS else "")])
            return _payload(1, 11, answer)
        if msg == 2:
            status = self.device.status()
            answer = pb.encode(
                [
                    (1, pb.V, pc.SUCCESS),
                    (2, pb.V, int(status["statusCode"])),
                    (3, pb.B, str(status["title"])),
                    (4, pb.B, str(status["description"])),
                ]
            )
            return _payload(3, 13, answer)
        raise pc.ProtocommError("unknown PetitPair message", pc.INVALID_PROTO)

    def _set_pairing(self, cmd: "dict[int, list[object]]") -> int:
        if self.applied or self.device.paired():
            return pc.INTERNAL_ERROR
        try:
            pairing = {
                "pairKey": pb.get_str(cmd, 1) or None,
                "ownerKey": pb.get_str(cmd, 2),
                "accessToken": pb.get_str(cmd, 3) or None,
                "mqttHost": pb.get_str(cmd, 4) or None,
                "mqttPort": pb.get_int(cmd, 5) or None,
            }
        except pb.DecodeError:
            return pc.INVALID_ARGUMENT
        try:
            # Checked now with placeholder Wi-Fi, so a bad key is refused here rather than at ApplyConfig.
            probe = dict(pairing)
            probe.update({"ssid": "probe", "password": ""})
            localapi.check_config(probe)
        except localapi.ApiError:
            return pc.INVALID_ARGUMENT
        self.pairing = {k: v for k, v in pairing.items() if v is not None}
        return pc.SUCCESS


def build(  # noqa: PLR0917 - the ports, as machine.Device takes them
    device: "Any",
    security: "Any",
    clock: "Any",
    random: "Any",
    limits: "dict[str, float] | None" = None,
    has_pop: bool = True,  # noqa: FBT001, FBT002 - MicroPython-friendly
) -> "tuple[pc.Protocomm, WifiProv]":
    """``security`` makes a fresh Security0/1/2 per session."""
    probe = security()
    prov = WifiProv(device, probe.version, probe.patch_version, has_pop)
    comm = pc.Protocomm(security, prov.endpoints(), prov.version_info, clock, random, limits)
    return comm, prov
