"""ESP32 firmware entry point (MicroPython): the shared state machine over network.WLAN, MQTT over
umqtt.simple (mqtt.py) and the local API served by microdot, next to the state machine on asyncio.

On the board the files sit at the root of the flash (see README.md). ``device.json`` next to this
file may override: mqttHost, mqttPort, httpPort, apSsid, apPassword, storePath, telemetryInterval, and
``provisioning`` ({"secVer": 0 or 1, "pop": "..."}): ESP-IDF provisioning (protocomm) served beside the
local API on the same port, as the simulator does.
"""

import asyncio
import json
import time

import network
from microdot import Microdot, Request
from mqtt import MqttClient
from web import Web

from firmware.core import http, localapi, machine, protocomm, wifiprov

FIRMWARE_VERSION = machine.FIRMWARE_VERSION

# Microdot's limits are class-wide; with the local API's own, it answers 413 (see local_api) without
# reading an oversized body into the board's small heap.
Request.max_content_length = localapi.MAX_BODY
Request.max_body_length = localapi.MAX_BODY

# Every method reaches localapi, which owns the 404/405 answers, as with firmware.core.http.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
NO_STORE = {"Cache-Control": "no-store"}


def load_settings():
    try:
        with open("device.json") as handle:  # noqa: PTH123 - no pathlib on MicroPython
            return json.load(handle)
    except OSError:
        return {}


class Clock:
    def __init__(self):
        self.start = time.ticks_ms()

    def now(self):
        return time.ticks_diff(time.ticks_ms(), self.start) / 1000

    def sleep(self, seconds):
        time.sleep_ms(int(seconds * 1000))


class FlashStore:
    def __init__(self, path):
        self.path = path

    def load(self):
        try:
            with open(self.path) as handle:  # noqa: PTH123 - no pathlib on MicroPython
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def save(self, data):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:  # noqa: PTH123 - no pathlib on MicroPython
            json.dump(data, handle)
        import os  # noqa: PLC0415 - keep boot imports small

        os.rename(tmp, self.path)  # noqa: PTH104 - no pathlib on MicroPython

    def clear(self):
        import os  # noqa: PLC0415

        try:  # noqa: SIM105 - no contextlib on MicroPython
            os.remove(self.path)  # noqa: PTH107 - no pathlib on MicroPython
        except OSError:
            pass


class WlanWifi:
    """network.WLAN as the machine's Wi-Fi port: station joins while the setup AP stays up."""

    def __init__(self, ap_ssid, ap_password):
        self.sta = network.WLAN(network.STA_IF)
        self.ap = network.WLAN(network.AP_IF)
        self.ap_ssid = ap_ssid
        self.ap_password = ap_password
        self.sta.active(True)  # noqa: FBT003 - network.WLAN API

    def begin(self, ssid, password):
        self.sta.disconnect()
        self.sta.connect(ssid, password)

    def status(self):
        code = self.sta.status()
        if code == network.STAT_GOT_IP:
            return machine.WIFI_GOT_IP
        if code == network.STAT_CONNECTING:
            return machine.WIFI_CONNECTING
        if code == network.STAT_WRONG_PASSWORD:
            return machine.WIFI_WRONG_PASSWORD
        if code == network.STAT_NO_AP_FOUND:
            return machine.WIFI_NO_AP
        if code == network.STAT_IDLE:
            return machine.WIFI_IDLE
        return machine.WIFI_FAILED

    def scan(self):
        out = []
        for ssid, _bssid, channel, rssi, security, _hidden in self.sta.scan():
            # Seed 000's Wi-Fi object; sec carries the ESP auth mode number.
            name = ssid.decode() if isinstance(ssid, bytes) else ssid
            out.append({"ssid": name, "rssi": rssi, "sec": security, "ch": channel, "mdr": 0})
        return out

    def rssi(self):
        try:
            return self.sta.status("rssi")
        except (OSError, ValueError, TypeError):
            return 0

    def ip(self):
        # wifiprov's GetStatus reports it; the unix port's mocked WLAN has no ifconfig.
        try:
            return self.sta.ifconfig()[0]
        except (AttributeError, OSError):
            return ""

    def disconnect(self):
        self.sta.disconnect()

    def set_ap(self, active):
        if active:
            self.ap.active(True)  # noqa: FBT003 - network.WLAN API
            if self.ap_password:
                self.ap.config(essid=self.ap_ssid, password=self.ap_password, authmode=network.AUTH_WPA2_PSK)
            else:
                self.ap.config(essid=self.ap_ssid)
        else:
            self.ap.active(False)  # noqa: FBT003 - network.WLAN API


def identity(wifi, settings):
    mac = ":".join(f"{b:02X}" for b in wifi.sta.config("mac"))
    return {
        "deviceId": "petit-" + mac.replace(":", "").lower(),
        "mac": mac,
        "firmwareVersion": FIRMWARE_VERSION,
        "model": settings.get("model", "esp32"),
        "capabilities": [
            "telemetry",
            "rpc",
            "shared-attributes",
            "claim",
            "provision",
            "pairKey",
            "http-gateway",
        ],
        "mqttHost": settings.get("mqttHost", "127.0.0.1"),
        "mqttPort": settings.get("mqttPort", 1883),
    }


def provisioning(device, settings, clock):
    """The protocomm endpoints for device.json's ``provisioning``, or None when it is absent."""
    options = settings.get("provisioning")
    if not options:
        return None
    sec_ver = options.get("secVer", 1)
    pop = options.get("pop", "").encode()
    if sec_ver == 0:
        security = protocomm.Security0
        import os  # noqa: PLC0415 - keep boot imports small

        random = os.urandom
    elif sec_ver == 1:
        # Only a board that provisions with security 1 needs cryptolib and the X25519 code in memory.
        from mpcrypto import MicroPythonCrypto  # noqa: PLC0415

        crypto = MicroPythonCrypto()
        random = crypto.random

        def security():
            return protocomm.Security1(crypto, pop)

    else:
        # Security 2 needs SHA-512 and AES-GCM, which this port lacks (README.md).
        raise ValueError("unsupported provisioning secVer " + str(sec_ver))
    comm, _prov = wifiprov.build(device, security, clock, random, options.get("limits"), has_pop=bool(pop))
    return comm


def protocomm_response(comm, path, request_headers, body):
    """One protocomm request: the raw answer, or 500 as ESP-IDF's httpd answers a failed one."""
    headers = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
    try:
        answer, announce = comm.handle(path, body or b"", http.session_cookie(request_headers))
    except protocomm.ProtocommError as error:
        headers["X-Protocomm-Status"] = str(error.status)
        return b"", 500, headers
    if announce:
        headers["Set-Cookie"] = "session=" + str(announce)
    return answer, 200, headers


def local_api(device, comm=None):
    """The device-local API as a microdot app: transport checks here, everything else in localapi.
    ``comm``: the protocomm endpoints, answered before the local API sees the request."""
    app = Microdot()

    def error(status, code, message):
        return localapi.ApiError(status, code, message).body(), status, NO_STORE

    @app.route("/", methods=METHODS)
    @app.route("/<path:path>", methods=METHODS)
    def route(request, path=""):
        headers = {}
        for name, value in request.headers.items():
            headers[name.lower()] = value
        # The raw body, not request.json: localapi answers malformed JSON with its own 400.
        body = request.body
        if http.is_protocomm(comm, request.method, "/" + path):
            # esp_prov labels protobuf bodies as a form; ESP-IDF ignores the type, so no check here.
            return protocomm_response(comm, path, headers, body)
        try:
            localapi.check_framing(request.method, headers)
            localapi.check_content_type(headers, body)
        except localapi.ApiError as failure:
            return failure.body(), failure.status, NO_STORE
        status, answer = localapi.handle(device, request.method, request.path, headers, body)
        return answer, status, NO_STORE

    @app.errorhandler(413)
    def too_large(_request):
        return error(413, "body_too_large", "body exceeds " + str(localapi.MAX_BODY) + " bytes")

    @app.errorhandler(400)
    def unreadable(_request):
        return error(400, "bad_request", "malformed request")

    return app


async def steps(device):
    while True:
        delay = device.step()
        # Yield at least briefly so HTTP requests are served between steps.
        await asyncio.sleep(min(max(delay, 0.01), 0.5))


async def run():
    settings = load_settings()
    wifi = WlanWifi(settings.get("apSsid", "petit-setup"), settings.get("apPassword", ""))
    mqtt = MqttClient(
        connect_timeout_s=settings.get("connectTimeout", 5), ack_timeout_s=settings.get("ackTimeout", 5)
    )
    tuning = {}
    for key in ("telemetry_interval_s", "backoff_base_s", "backoff_max_s", "wifi_timeout_s"):
        if key in settings:
            tuning[key] = settings[key]
    clock = Clock()
    device = machine.Device(
        identity(wifi, settings),
        wifi,
        mqtt,
        FlashStore(settings.get("storePath", "config.json")),
        clock,
        settings=tuning,
        web=Web(timeout_s=settings.get("ackTimeout", 5)),
    )
    comm = provisioning(device, settings, clock)
    port = settings.get("httpPort", 80)
    print("petit firmware", FIRMWARE_VERSION, "local API on port", port)  # noqa: T201 - serial console log
    # The app reaches the device on its access point (192.168.4.1) and, once joined, on the home network.
    # gather: if either the server (say, the port is taken) or the state machine fails, the board stops
    # with the traceback on the console instead of running half a firmware.
    await asyncio.gather(local_api(device, comm).start_server("0.0.0.0", port), steps(device))  # noqa: S104


asyncio.run(run())
