"""ESP32 firmware entry point (MicroPython): the shared state machine over network.WLAN, MQTT over
umqtt.simple (mqtt.py) and the local API served by microdot, next to the state machine on asyncio.

On the board the files sit at the root of the flash (see README.md). ``device.json`` next to this
file may override: mqttHost, mqttPort, httpPort, apSsid, apPassword, storePath, telemetryInterval.
"""

import asyncio
import json
import time

import network
from microdot import Microdot, Request
from mqtt import MqttClient
from web import Web

from firmware.core import localapi, machine

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


def local_api(device):
    """The device-local API as a microdot app: transport checks here, everything else in localapi."""
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
    device = machine.Device(
        identity(wifi, settings),
        wifi,
        mqtt,
        FlashStore(settings.get("storePath", "config.json")),
        Clock(),
        settings=tuning,
        web=Web(timeout_s=settings.get("ackTimeout", 5)),
    )
    port = settings.get("httpPort", 80)
    print("petit firmware", FIRMWARE_VERSION, "local API on port", port)  # noqa: T201 - serial console log
    # The app reaches the device on its access point (192.168.4.1) and, once joined, on the home network.
    # gather: if either the server (say, the port is taken) or the state machine fails, the board stops
    # with the traceback on the console instead of running half a firmware.
    await asyncio.gather(local_api(device).start_server("0.0.0.0", port), steps(device))  # noqa: S104


asyncio.run(run())
