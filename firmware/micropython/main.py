"""ESP32 firmware entry point (MicroPython): the shared state machine over network.WLAN, our MQTT
client and the local API served by firmware.core.http on asyncio.

On the board the files sit at the root of the flash (see README.md). ``device.json`` next to this
file may override: mqttHost, mqttPort, httpPort, apSsid, apPassword, storePath, telemetryInterval.
"""

import asyncio
import json
import time

import network
from mqtt import MqttClient
from web import Web

from firmware.core import http, machine

FIRMWARE_VERSION = machine.FIRMWARE_VERSION


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

    async def on_connection(reader, writer):
        try:
            await asyncio.wait_for(http.serve(device, reader, writer), 10)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            writer.close()

    port = settings.get("httpPort", 80)
    # The app reaches the device on its access point (192.168.4.1) and, once joined, on the home network.
    await asyncio.start_server(on_connection, "0.0.0.0", port)  # noqa: S104
    print("petit firmware", FIRMWARE_VERSION, "local API on port", port)  # noqa: T201 - serial console log
    while True:
        delay = device.step()
        # Yield at least briefly so HTTP requests are served between steps.
        await asyncio.sleep(min(max(delay, 0.01), 0.5))


asyncio.run(run())
