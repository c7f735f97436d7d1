"""The device's state machine: setup (access point + local API) and operation (MQTT to ThingsBoard).

Pure logic: it imports nothing network-related and talks to the world only through the ports it is
given, so the host simulator (paho, simulated Wi-Fi) and the ESP32 firmware (own MQTT client,
``network.WLAN``) run the same code. ``step()`` never waits for Wi-Fi: it advances one phase and
returns how long the caller may sleep, so a single-threaded MicroPython loop keeps answering HTTP
while the device joins the network (seed 001 v2: the app reads errors while the device tries).
MQTT calls do block, bounded by the adapter's timeouts.

Ports (duck-typed):
  wifi:   begin(ssid, password); status() -> one of WIFI_*; scan() -> list of dicts; rssi() -> int;
          disconnect(); set_ap(active)
  mqtt:   connect(host, port, username, client_id) raises MqttFailure; subscribe(topic);
          publish(topic, payload_bytes, qos) (QoS 1 waits for PUBACK) raises MqttFailure;
          poll() -> list of (topic, payload_bytes) raises MqttFailure; disconnect()
  store:  load() -> dict or None; save(dict); clear()
  clock:  now() -> seconds (monotonic float); sleep(seconds) (only while waiting for provisioning)
  web:    post(url, body_dict, headers) -> (status, dict) raises MqttFailure(SERVER_REQUEST_TIMEOUT
          or SERVER_ERROR); optional, for seed 004's HTTP gateway (claim a one-time token for an API
          key, then POST telemetry to the ingest URL instead of using MQTT)
"""

import json

from firmware.core import status as st

try:  # noqa: SIM105 - MicroPython has no contextlib  # MicroPython has no typing module; annotations are never evaluated there.
    from typing import Any
except ImportError:  # pragma: no cover - MicroPython only
    pass

FIRMWARE_VERSION = "1.0.0"

# Values wifi.status() returns.
WIFI_IDLE = "idle"
WIFI_CONNECTING = "connecting"
WIFI_GOT_IP = "got_ip"
WIFI_WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a status name, not a secret
WIFI_NO_AP = "no_ap"
WIFI_FAILED = "failed"

# ThingsBoard device MQTT API topics (thingsboard-ce.md).
TOPIC_TELEMETRY = "v1/devices/me/telemetry"
TOPIC_ATTRIBUTES = "v1/devices/me/attributes"
TOPIC_ATTR_REQUEST = "v1/devices/me/attributes/request/"
TOPIC_ATTR_RESPONSE = "v1/devices/me/attributes/response/"
TOPIC_RPC_REQUEST = "v1/devices/me/rpc/request/"
TOPIC_RPC_RESPONSE = "v1/devices/me/rpc/response/"
TOPIC_CLAIM = "v1/devices/me/claim"
TOPIC_PROVISION_REQUEST = "/provision/request"
TOPIC_PROVISION_RESPONSE = "/provision/response"

SETUP = "setup"
OPERATING = "operating"

DEFAULTS = {
    "wifi_timeout_s": 20.0,
    "provision_timeout_s": 10.0,
    "telemetry_interval_s": 10.0,
    "stream_interval_s": 1.0,
    "backoff_base_s": 1.0,
    "backoff_max_s": 60.0,
    "ap_grace_s": 60.0,
    "poll_s": 0.05,
}

SHARED_KEYS = ("telemetryInterval", "led")


def equal_secret(a: str, b: str) -> bool:
    """Compare without an early exit, so response time does not reveal how much of a key matched."""
    x = a.encode()
    y = b.encode()
    diff = len(x) ^ len(y)
    for i in range(min(len(x), len(y))):
        diff |= x[i] ^ y[i]
    return diff == 0


class Device:
    """One device. Thread-safety: the HTTP side only calls the small methods marked as such."""

    def __init__(  # noqa: PLR0917 - the ports are the constructor's whole point
        self,
        identity: "dict[str, Any]",
        wifi: "Any",
        mqtt: "Any",
        store: "Any",
        clock: "Any",
        sensors: "Any" = None,
        settings: "dict[str, float] | None" = None,
        jitter: "Any" = None,
        web: "Any" = None,
        factory: "dict[str, Any] | None" = None,
    ) -> None:
        self.identity = identity
        # Flashed at the factory (an access token, or the provisioning key and secret): a configuration
        # leaves them out, and unlike stored credentials a factory reset does not forget them.
        self.factory = factory if factory is not None else {}
        self.wifi = wifi
        self.mqtt = mqtt
        self.store = store
        self.clock = clock
        self.sensors = sensors
        self.settings = dict(DEFAULTS)
        if settings:
            self.settings.update(settings)
        # jitter(x) -> a delay in [0, x]; the simulator spreads a fleet's reconnects with it.
        self.jitter = jitter
        self.web = web
        self.stats = {"telemetry": 0, "rpc": 0, "attributes": 0, "reconnects": 0, "connects": 0}
        self.led = False
        self.streaming = False
        self.last_error = ""
        self._booted_at = clock.now()
        self._pending = None  # type: dict[str, Any] | None
        self._reset_requested = False
        # Called (from the HTTP side) when there is new work, so a sleeping runner wakes at once.
        self.wake = None  # type: Any
        self.boot()

    def _now(self) -> float:
        return float(self.clock.now())

    # -- lifecycle -------------------------------------------------------------------------------------

    def boot(self) -> None:
        """Start as after power-on: operate with stored credentials, or open the access point for setup."""
        self._status = (st.IDLE, "", "")
        self.config = None  # type: dict[str, Any] | None
        self._phase = "idle"
        self._deadline = 0.0
        self._next_try = 0.0
        self._backoff = 0.0
        self._next_telemetry = 0.0
        self._ap_off_at = 0.0
        self._connected = False
        saved = self.store.load()
        if saved and saved.get("ssid") and (saved.get("accessToken") or saved.get("apiKey")):
            self.config = saved
            self.mode = OPERATING
            self.interval = float(saved.get("telemetryInterval") or self.settings["telemetry_interval_s"])
            self._status = (st.CONFIG_FINISHED, "", "")
            self.wifi.set_ap(False)
            self._phase = "op_wifi"
        else:
            self.mode = SETUP
            self.interval = self.settings["telemetry_interval_s"]
            self.wifi.set_ap(True)

    def factory_reset(self) -> None:
        """Forget credentials and owner; back to the access point, as a new device."""
        self._drop_mqtt()
        self.wifi.disconnect()
        self.store.clear()
        self.led = False
        self.streaming = False
        self.last_error = ""
        self.boot()

    # -- HTTP side (safe to call from another thread: single attribute reads/writes) ---------------------

    def status(self) -> "dict[str, Any]":
        code, title, description = self._status
        return {
            "statusCode": code,
            "title": title,
            "description": description or st.STATUS_TEXT.get(code, ""),
        }

    def busy(self) -> bool:
        return self._pending is not None or self._status[0] in (
            st.WIFI_CONNECTING,
            st.WIFI_CONNECTED,
            st.SERVER_CONNECTING,
        )

    def paired(self) -> bool:
        return self.mode == OPERATING

    def owner_key(self) -> str:
        return str((self.config or {}).get("ownerKey") or "")

    def submit_config(self, config: "dict[str, Any]") -> None:
        """Accept validated configuration; the machine picks it up on its next step."""
        self._status = (st.WIFI_CONNECTING, "", "")
        self._pending = config
        if self.wake is not None:
            self.wake()

    def request_reset(self) -> None:
        self._reset_requested = True
        if self.wake is not None:
            self.wake()

    def info(self) -> "dict[str, Any]":
        body = dict(self.identity)
        # The broker in use, not the built-in default: a config (petit's pairing, provisioning) usually names
        # another, and an app or a person checking where the device went needs that one.
        body["mqttHost"], body["mqttPort"] = self._broker()
        body["paired"] = self.paired()
        body["uptimeS"] = int(self.clock.now() - self._booted_at)
        return body

    # -- the loop ------------------------------------------------------------------------------------

    def step(self) -> float:  # noqa: PLR0911 - a dispatch over phases
        """Advance one phase; return the seconds the caller may sleep before the next step."""
        if self._reset_requested:
            self._reset_requested = False
            self.factory_reset()
            return 0.0
        pending = self._pending
        if pending is not None and self.mode == SETUP:
            self._pending = None
            self._start_setup(pending)
            return 0.0
        phase = self._phase
        if phase == "wifi_wait":
            return self._setup_wifi_wait()
        if phase == "server":
            return self._setup_server()
        if phase.startswith("op_"):
            if self._ap_off_at and self.clock.now() >= self._ap_off_at:
                self._ap_off_at = 0.0
                self.wifi.set_ap(False)
            if phase == "op_wifi":
                return self._op_wifi()
            if phase == "op_wifi_wait":
                return self._op_wifi_wait()
            if phase == "op_connect":
                return self._op_connect()
            return self._op_run()
        return 1.0

    # -- setup -----------------------------------------------------------------------------------------

    def _start_setup(self, config: "dict[str, Any]") -> None:
        self._drop_mqtt()
        self.config = config
        self._status = (st.WIFI_CONNECTING, "", "")
        self.wifi.begin(config["ssid"], config.get("password") or "")
        self._deadline = self.clock.now() + self.settings["wifi_timeout_s"]
        self._phase = "wifi_wait"

    def _setup_wifi_wait(self) -> float:
        outcome = self.wifi.status()
        if outcome == WIFI_GOT_IP:
            self._status = (st.WIFI_CONNECTED, "", "")
            self._phase = "server"
            return 0.0
        failure = _wifi_failure(outcome)
        if failure is None and self.clock.now() < self._deadline:
            return float(self.settings["poll_s"])
        title = failure or st.WIFI_CONNECT_BAD_CREDENTIALS
        self._fail(st.WIFI_ERROR, title, "could not join " + repr(self.config and self.config.get("ssid")))
        self.wifi.disconnect()
        return 1.0

    def _setup_server(self) -> float:
        config = self.config or {}
        self._status = (st.SERVER_CONNECTING, "", "")
        try:
            if config.get("gatewayToken"):
                self._gateway_claim(config)
            else:
                self._pair_over_mqtt(config)
        except st.MqttFailure as failure:
            self._drop_mqtt()
            self._fail(st.SERVER_FAILED, failure.title, failure.detail)
            return 1.0
        self._status = (st.CONFIG_FINISHED, "", "")
        self.mode = OPERATING
        saved = {}
        for key in config:
            # Spent one-time material is not kept: it would only leak.
            if key not in ("pairKey", "provisionDeviceSecret", "claimSecret", "gatewayToken"):
                saved[key] = config[key]
        self.config = saved
        self.store.save(saved)
        self._ap_off_at = self._now() + self.settings["ap_grace_s"]
        self._backoff = 0.0
        if self._connected:
            self._after_connect()
        self._next_telemetry = self._now()
        self._phase = "op_run"
        return 0.0

    def _pair_over_mqtt(self, config: "dict[str, Any]") -> None:
        token = config.get("accessToken") or self._provision(config)
        config["accessToken"] = token
        self._connect(token)
        pairing = {"pairKey": config.get("pairKey", ""), "mac": self.identity.get("mac", "")}
        pairing["firmwareVersion"] = self.identity.get("firmwareVersion", FIRMWARE_VERSION)
        if config.get("pairKey"):
            # pairing.md step 3: once, QoS 1; status 4 only after the PUBACK.
            self.mqtt.publish(TOPIC_ATTRIBUTES, json.dumps(pairing).encode(), 1)
        if config.get("claimSecret"):
            claim = {"secretKey": config["claimSecret"]}
            if config.get("claimDurationMs"):
                claim["durationMs"] = config["claimDurationMs"]
            self.mqtt.publish(TOPIC_CLAIM, json.dumps(claim).encode(), 1)

    def _gateway_claim(self, config: "dict[str, Any]") -> None:
        """Seed 004: exchange the one-time token for an API key and the ingest URL."""
        if self.web is None:
            raise st.MqttFailure(st.SERVER_ERROR, "this firmware has no HTTP client")
        url = str(config["gatewayUrl"]).rstrip("/") + "/gateway/devices/claim"
        metadata = {
            "fw": self.identity.get("firmwareVersion", FIRMWARE_VERSION),
            "mac": self.identity.get("mac", ""),
        }
        code, answer = self.web.post(url, {"token": config["gatewayToken"], "device_metadata": metadata}, {})
        if code not in (200, 201) or not answer.get("api_key") or not answer.get("ingest_url"):
            raise st.MqttFailure(st.SERVER_ERROR, "gateway claim answered HTTP " + str(code))
        config["apiKey"] = str(answer["api_key"])
        config["ingestUrl"] = str(answer["ingest_url"])

    def _fail(self, code: int, title: str, detail: str) -> None:
        self.last_error = title
        self._status = (code, title, detail)
        # Seed 001 v2: stay in setup with the access point up, ready for another POST /config/data.
        self._phase = "idle"

    def _provision(self, config: "dict[str, Any]") -> str:
        """ThingsBoard device provisioning over MQTT (username "provision"): returns an access token."""
        key = config.get("provisionDeviceKey")
        if not key:
            raise st.MqttFailure(st.SERVER_ERROR, "no accessToken and no provisionDeviceKey")
        host, port = self._broker()
        self.mqtt.connect(host, port, "provision", self.identity.get("deviceId", ""))
        try:
            self.mqtt.subscribe(TOPIC_PROVISION_RESPONSE)
            request = {
                "deviceName": config.get("deviceName") or self.identity.get("deviceId", ""),
                "provisionDeviceKey": key,
                "provisionDeviceSecret": config.get("provisionDeviceSecret", ""),
            }
            self.mqtt.publish(TOPIC_PROVISION_REQUEST, json.dumps(request).encode(), 1)
            deadline = self.clock.now() + self.settings["provision_timeout_s"]
            while self.clock.now() < deadline:
                for topic, payload in self.mqtt.poll():
                    if topic == TOPIC_PROVISION_RESPONSE:
                        answer = _json(payload)
                        if answer.get("status") == "SUCCESS" and answer.get("credentialsValue"):
                            return str(answer["credentialsValue"])
                        refusal = str(answer.get("errorMsg") or "provisioning refused")
                        raise st.MqttFailure(st.SERVER_ERROR, refusal)
                self.clock.sleep(self.settings["poll_s"])
            raise st.MqttFailure(st.SERVER_REQUEST_TIMEOUT, "no provisioning response")
        finally:
            self.mqtt.disconnect()

    # -- operation -------------------------------------------------------------------------------------

    def _broker(self) -> "tuple[str, int]":
        config = self.config or {}
        host = config.get("mqttHost") or self.identity.get("mqttHost") or "127.0.0.1"
        port = config.get("mqttPort") or self.identity.get("mqttPort") or 1883
        return str(host), int(port)

    def _connect(self, token: str) -> None:
        host, port = self._broker()
        self.mqtt.connect(host, port, token, self.identity.get("deviceId", ""))
        self._connected = True
        self.stats["connects"] += 1
        self.mqtt.subscribe(TOPIC_RPC_REQUEST + "+")
        self.mqtt.subscribe(TOPIC_ATTRIBUTES)
        self.mqtt.subscribe(TOPIC_ATTR_RESPONSE + "+")

    def _after_connect(self) -> None:
        # Shared attributes changed while offline arrive only on request.
        keys = {"sharedKeys": ",".join(SHARED_KEYS)}
        self.mqtt.publish(TOPIC_ATTR_REQUEST + "1", json.dumps(keys).encode(), 0)
        self._next_telemetry = self.clock.now()

    def _drop_mqtt(self) -> None:
        if self._connected:
            self._connected = False
            try:  # noqa: SIM105 - MicroPython has no contextlib
                self.mqtt.disconnect()
            except Exception:  # noqa: BLE001, S110 - the link is being abandoned either way
                pass

    def _retry_later(self, title: str) -> float:
        self.last_error = title
        base = self.settings["backoff_base_s"]
        self._backoff = min(self._backoff * 2 if self._backoff else base, self.settings["backoff_max_s"])
        delay = self._backoff
        if self.jitter is not None:
            delay = self._backoff / 2 + self.jitter(self._backoff / 2)
        self._next_try = self.clock.now() + delay
        self.stats["reconnects"] += 1
        return delay

    def _op_wifi(self) -> float:
        now = self._now()
        if now < self._next_try:
            return self._next_try - now
        config = self.config or {}
        if self.wifi.status() == WIFI_GOT_IP:
            self._phase = "op_connect"
            return 0.0
        self.wifi.begin(config.get("ssid", ""), config.get("password") or "")
        self._deadline = self.clock.now() + self.settings["wifi_timeout_s"]
        self._phase = "op_wifi_wait"
        return float(self.settings["poll_s"])

    def _op_wifi_wait(self) -> float:
        outcome = self.wifi.status()
        if outcome == WIFI_GOT_IP:
            self._phase = "op_connect"
            return 0.0
        failure = _wifi_failure(outcome)
        if failure is None and self.clock.now() < self._deadline:
            return float(self.settings["poll_s"])
        self.wifi.disconnect()
        self._phase = "op_wifi"
        return self._retry_later(failure or st.WIFI_CONNECT_BAD_CREDENTIALS)

    def _op_connect(self) -> float:
        now = self._now()
        if now < self._next_try:
            return self._next_try - now
        if self.wifi.status() != WIFI_GOT_IP:
            self._phase = "op_wifi"
            return 0.0
        if self._over_http():
            self._phase = "op_run"
            return 0.0
        try:
            self._connect(str((self.config or {}).get("accessToken", "")))
            self._after_connect()
        except st.MqttFailure as failure:
            self._drop_mqtt()
            return self._retry_later(failure.title)
        self._backoff = 0.0
        self.last_error = ""
        self._phase = "op_run"
        return 0.0

    def _op_run(self) -> float:
        if self.wifi.status() != WIFI_GOT_IP:
            # The radio lost the network: the broker link is gone with it, whatever the socket thinks.
            self._drop_mqtt()
            self._phase = "op_wifi"
            return self._retry_later(st.MQTT_CONNECTION_LOST)
        if self._over_http():
            return self._op_run_http()
        try:
            for topic, payload in self.mqtt.poll():
                self._on_message(topic, payload)
            now = self.clock.now()
            if now >= self._next_telemetry:
                self._send_telemetry()
                period = self.settings["stream_interval_s"] if self.streaming else self.interval
                self._next_telemetry = now + period
        except st.MqttFailure as failure:
            self._drop_mqtt()
            self._phase = "op_connect"
            return self._retry_later(failure.title)
        if self._reset_requested:
            return 0.0
        wait = self._next_telemetry - self._now()
        return max(0.0, min(wait, self.settings["poll_s"]))

    def _over_http(self) -> bool:
        return bool((self.config or {}).get("apiKey"))

    def _op_run_http(self) -> float:
        now = self._now()
        if now < self._next_telemetry:
            return min(self._next_telemetry - now, 1.0)
        config = self.config or {}
        headers = {"Authorization": "Bearer " + str(config.get("apiKey", ""))}
        try:
            code, _ = self.web.post(str(config.get("ingestUrl", "")), self._telemetry(), headers)
        except st.MqttFailure as failure:
            return self._retry_later_http(failure.title)
        if code >= 300:
            return self._retry_later_http(st.SERVER_ERROR)
        self.stats["telemetry"] += 1
        self._backoff = 0.0
        self.last_error = ""
        self._next_telemetry = now + self.interval
        return 0.0

    def _retry_later_http(self, title: str) -> float:
        delay = self._retry_later(title)
        self._next_telemetry = self._next_try
        return delay

    def _telemetry(self) -> "dict[str, Any]":
        values = {"uptime": int(self.clock.now() - self._booted_at), "led": self.led}
        rssi = getattr(self.wifi, "rssi", None)
        if rssi is not None:
            values["rssi"] = rssi()
        if self.sensors is not None:
            values.update(self.sensors.read())
        return values

    def _send_telemetry(self) -> None:
        values = self._telemetry()
        self.mqtt.publish(TOPIC_TELEMETRY, json.dumps(values).encode(), 1)
        self.stats["telemetry"] += 1

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic.startswith(TOPIC_RPC_REQUEST):
            request_id = topic[len(TOPIC_RPC_REQUEST) :]
            request = _json(payload)
            result = self.call(str(request.get("method", "")), request.get("params"))
            self.stats["rpc"] += 1
            self.mqtt.publish(TOPIC_RPC_RESPONSE + request_id, json.dumps(result).encode(), 1)
        elif topic == TOPIC_ATTRIBUTES:
            self._apply_shared(_json(payload))
        elif topic.startswith(TOPIC_ATTR_RESPONSE):
            shared = _json(payload).get("shared")
            if isinstance(shared, dict):
                self._apply_shared(shared)

    def _apply_shared(self, values: "dict[str, Any]") -> None:
        self.stats["attributes"] += 1
        interval = values.get("telemetryInterval")
        if isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval > 0:
            self._set_interval(float(interval))
        led = values.get("led")
        if isinstance(led, bool):
            self.led = led

    def _set_interval(self, seconds: float) -> None:
        self.interval = seconds
        self._next_telemetry = min(self._next_telemetry, self.clock.now() + seconds)
        config = self.config
        if config is not None:
            config["telemetryInterval"] = seconds
            self.store.save(config)

    # -- RPC (seed 000's toggleStream, plus the state a phone app shows) ---------------------------------

    def call(self, method: str, params: "Any") -> "dict[str, Any]":  # noqa: PLR0911 - one per method
        """Answer a server-side RPC; unknown methods get an error object, never an exception."""
        args = params if isinstance(params, dict) else {}
        if method == "toggleStream":
            enabled = args.get("enabled")
            self.streaming = enabled if isinstance(enabled, bool) else not self.streaming
            self._next_telemetry = self.clock.now()
            return {"streaming": self.streaming}
        if method == "setLed":
            value = params if isinstance(params, bool) else args.get("on")
            if not isinstance(value, bool):
                return {"error": "setLed needs a boolean"}
            self.led = value
            return {"led": self.led}
        if method == "getState":
            return {
                "led": self.led,
                "streaming": self.streaming,
                "telemetryInterval": self.interval,
                "uptime": int(self.clock.now() - self._booted_at),
            }
        if method == "setTelemetryInterval":
            seconds = args.get("seconds")
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
                return {"error": "seconds must be a positive number"}
            self._set_interval(float(seconds))
            return {"telemetryInterval": self.interval}
        if method == "getInfo":
            return self.info()
        if method == "factoryReset":
            self._reset_requested = True
            return {"reset": True}
        return {"error": "unknown method " + repr(method)}


def _wifi_failure(outcome: str) -> "str | None":
    if outcome == WIFI_WRONG_PASSWORD:
        return st.WIFI_CONNECT_BAD_CREDENTIALS
    if outcome == WIFI_NO_AP:
        return st.WIFI_NO_AP_FOUND
    if outcome == WIFI_FAILED:
        return st.WIFI_CONNECT_BAD_CREDENTIALS
    return None


def _json(payload: bytes) -> "dict[str, Any]":
    try:
        value = json.loads(payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
