"""A mocked MicroPython ``network`` module for the unix port (which has none).

The simulated world is read from the JSON file named by $PETIT_MOCK_WIFI:
{"networks": [{"ssid": ..., "password": ..., "rssi": ..., "channel": ...}], "mac": "02:..."}.
Joining takes one status() call in CONNECTING, then GOT_IP, WRONG_PASSWORD or NO_AP_FOUND.
"""

import json
import os

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_WRONG_PASSWORD = 202
STAT_NO_AP_FOUND = 201
STAT_CONNECT_FAIL = 203
STAT_GOT_IP = 1010
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3


def _world():
    with open(os.getenv("PETIT_MOCK_WIFI")) as handle:  # noqa: PTH123 - runs on MicroPython
        return json.load(handle)


class WLAN:
    def __init__(self, interface):
        self.interface = interface
        self._active = False
        self._target = None
        self._polls = 0
        self._config = {}

    def active(self, value=None):
        if value is None:
            return self._active
        self._active = value
        return None

    def connect(self, ssid, key):
        self._target = (ssid, key)
        self._polls = 0

    def disconnect(self):
        self._target = None

    def status(self, param=None):
        if param == "rssi":
            return -48
        if self._target is None:
            return STAT_IDLE
        self._polls += 1
        if self._polls < 2:
            return STAT_CONNECTING
        for network in _world()["networks"]:
            if network["ssid"] == self._target[0]:
                if network.get("password", "") != self._target[1]:
                    return STAT_WRONG_PASSWORD
                return STAT_GOT_IP
        return STAT_NO_AP_FOUND

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def scan(self):
        out = []
        for n in _world()["networks"]:
            auth = AUTH_WPA2_PSK if n.get("password") else AUTH_OPEN
            out.append(
                (n["ssid"].encode(), b"\x00" * 6, n.get("channel", 6), n.get("rssi", -50), auth, False)
            )
        return out

    def config(self, *args, **kwargs):
        if args == ("mac",):
            mac = _world().get("mac", "02:00:00:00:00:01")
            return bytes(int(part, 16) for part in mac.split(":"))
        self._config.update(kwargs)
        return None
