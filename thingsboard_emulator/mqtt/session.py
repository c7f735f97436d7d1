"""One device connection: ThingsBoard's ``MqttTransportHandler`` behaviour on an asyncio protocol."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from thingsboard_emulator.contracts import DeviceApi, DeviceApiError, DeviceRef, RpcRequest, SessionHandle
from thingsboard_emulator.mqtt import codec, topics
from thingsboard_emulator.mqtt.codec import MQTT_3_1_1, MQTT_5, MalformedPacketError

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _BadPayloadError(ValueError):
    """A payload ThingsBoard's JSON adaptor would reject (an ``AdaptorException`` in TB)."""


class ReadBudget:
    """How many packets all sessions together may handle in one event-loop iteration.

    Without a bound, a hundred devices each pipelining a few publishes feed the core thousands of messages
    before anything else runs, and a WebSocket subscriber's queue of pending updates (closed by TB past 1000)
    overflows. Sessions over budget pause reading until the next iteration, like Netty's per-read limit.
    """

    def __init__(self, per_iteration: int) -> None:
        self.per_iteration = per_iteration
        self._left = per_iteration
        self._reset_pending = False
        self._waiting: list[MqttSession] = []

    def take(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Spend one packet; ``False`` when this iteration's budget is gone."""
        if not self._reset_pending:
            self._reset_pending = True
            loop.call_soon(self._reset)
        if self._left <= 0:
            return False
        self._left -= 1
        return True

    def wait(self, session: MqttSession) -> None:
        """Resume ``session`` once the budget is renewed."""
        self._waiting.append(session)

    def _reset(self) -> None:
        self._reset_pending = False
        self._left = self.per_iteration
        waiting, self._waiting = self._waiting, []
        for session in waiting:
            session.resume()


@dataclass(slots=True)
class TransportSettings:
    """What every session of one server shares."""

    device_api: DeviceApi
    max_payload_bytes: int
    provision_close_delay_s: float
    connect_timeout_s: float
    max_inflight_messages: int
    budget: ReadBudget
    sessions: set[MqttSession] = field(default_factory=set)


def _parse_request_id(suffix: str) -> int:
    try:
        return int(suffix)
    except ValueError as exc:
        raise _BadPayloadError(f"request id {suffix!r} is not an integer") from exc


def _json_object(payload: bytes) -> dict[str, Any]:
    value = json.loads(payload)
    if not isinstance(value, dict):
        raise _BadPayloadError("payload is not a JSON object")
    return value


def _json_telemetry(payload: bytes) -> Any:
    value = json.loads(payload)
    if not isinstance(value, (dict, list)):
        raise _BadPayloadError("telemetry is not a JSON object or array")
    return value


def _key_list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        return [str(item) for item in value]
    if isinstance(value, str):
        return value.split(",")
    raise _BadPayloadError(f"{name} is not a string")


class MqttSession(asyncio.Protocol):
    """A device (or provisioning) connection; also the ``DeviceSession`` the core pushes downlink through."""

    def __init__(self, settings: TransportSettings) -> None:
        self._settings = settings
        self._api = settings.device_api
        self._budget = settings.budget
        self._max_remaining = settings.max_payload_bytes
        self._transport: asyncio.Transport | None = None
        self._buf = b""
        self._level = MQTT_3_1_1
        self._connect_seen = False
        self._provision_only = False
        self._device: DeviceRef | None = None
        self._handle: SessionHandle | None = None
        self._subs: dict[str, int] = {}
        self._next_packet_id = 0
        self._closing = False
        self._keepalive_s = 0.0
        self._last_rx = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        # Outgoing packets are coalesced: one socket write per read burst or loop iteration, not per packet
        # (a PUBACK per telemetry message written one by one costs a syscall each).
        self._out: list[bytes] = []
        self._in_read = False
        self._flush_scheduled = False

    # -- asyncio.Protocol ------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._settings.sessions.add(self)
        self._timer = self._loop.call_later(self._settings.connect_timeout_s, self._on_connect_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._settings.sessions.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                self._api.close_session(handle)
            except Exception:
                log.exception("closing the session of device %s failed", handle.device.device_id)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._in_read = True
        try:
            self._read(data)
        finally:
            self._in_read = False
            self._flush()

    def resume(self) -> None:
        """Continue with the packets left unread when the read budget ran out."""
        if self._closing or self._transport is None:
            return
        self._transport.resume_reading()
        self.data_received(b"")

    def _read(self, data: bytes) -> None:
        if data:
            self._last_rx = self._loop.time()
        buf = self._buf + data if self._buf else data
        size = len(buf)
        pos = 0
        if not size:
            return
        if not self._connect_seen and buf[0] != 0x10:
            # Netty rejects a first packet that is not CONNECT as soon as it sees the fixed header.
            self._close(None)
            return
        while size - pos >= 2:
            first = buf[pos]
            length = buf[pos + 1]
            start = pos + 2
            if length & 0x80:
                try:
                    decoded = codec.decode_varint(buf, pos + 1)
                except MalformedPacketError:
                    self._close(topics.DISCONNECT_MALFORMED_PACKET)
                    return
                if decoded is None:
                    break
                length, start = decoded
            if length > self._max_remaining:
                # Netty's decoder refuses the frame before reading it; TB then closes the channel.
                log.info("closing an MQTT session: %d-byte packet exceeds %d", length, self._max_remaining)
                self._close(topics.DISCONNECT_MALFORMED_PACKET)
                return
            end = start + length
            if end > size:
                break
            if not self._budget.take(self._loop):
                assert self._transport is not None
                self._transport.pause_reading()
                self._budget.wait(self)
                break
            self._dispatch(first >> 4, first & 0x0F, buf[start:end])
            if self._closing:
                return
            pos = end
        self._buf = buf[pos:] if pos < size else b""

    # -- DeviceSession ---------------------------------------------------------------------------------------

    def deliver_rpc_request(self, request: RpcRequest) -> None:
        """Publish a server-side RPC on ``v1/devices/me/rpc/request/{id}``."""
        body = _dumps({"method": request.method, "params": request.params})
        self._publish(topics.RPC_REQUEST_PREFIX + str(request.request_id), body, topics.RPC_REQUEST_SUB)

    def deliver_attribute_update(self, update: dict[str, Any]) -> None:
        """Publish changed shared attributes on ``v1/devices/me/attributes`` if the device subscribed."""
        if topics.ATTRIBUTES in self._subs:
            self._publish(topics.ATTRIBUTES, _dumps(update), topics.ATTRIBUTES)

    def deliver_client_rpc_response(self, request_id: int, payload: Any) -> None:
        """Answer a device's RPC on ``v1/devices/me/rpc/response/{id}``."""
        self._publish(topics.RPC_RESPONSE_PREFIX + str(request_id), _dumps(payload), topics.RPC_RESPONSE_SUB)

    def close(self, reason: str) -> None:
        """The core ends the session (device deleted, credentials changed)."""
        log.info("closing the MQTT session of %s: %s", self._device.name if self._device else "?", reason)
        self._close(topics.DISCONNECT_ADMINISTRATIVE_ACTION)

    # -- transport-side controls -----------------------------------------------------------------------------

    @property
    def is_established(self) -> bool:
        """CONNECT was accepted and the connection is still open."""
        return (self._handle is not None or self._provision_only) and not self._closing

    def drop(self) -> None:
        """Cut the TCP connection without any MQTT goodbye, as a network failure would."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    # -- packet handling -------------------------------------------------------------------------------------

    def _dispatch(self, packet_type: int, flags: int, body: bytes) -> None:
        try:
            if self._connect_seen:
                self._on_packet(packet_type, flags, body)
            elif packet_type == codec.CONNECT:
                self._on_connect(body)
            else:
                self._close(None)
        except MalformedPacketError as exc:
            log.info("closing an MQTT session: %s", exc)
            self._close(topics.DISCONNECT_MALFORMED_PACKET)
        except Exception:
            # Like TB's exceptionCaught: whatever went wrong ends this session only, never the server.
            log.exception("closing an MQTT session after an unexpected error")
            self._close(topics.DISCONNECT_IMPLEMENTATION_SPECIFIC_ERROR)

    def _on_packet(self, packet_type: int, flags: int, body: bytes) -> None:
        if packet_type == codec.PUBLISH:
            topic, _qos, packet_id, payload = codec.decode_publish(flags, body, self._level)
            if self._provision_only:
                self._on_provision_publish(topic, packet_id, payload)
            else:
                self._on_publish(topic, packet_id, payload)
        elif packet_type == codec.PINGREQ:
            self._write(codec.PINGRESP_PACKET)
            if self._device is not None:
                self._api.record_activity(self._device)
        elif packet_type == codec.SUBSCRIBE:
            self._on_subscribe(*codec.decode_subscribe(body, self._level))
        elif packet_type == codec.UNSUBSCRIBE:
            self._on_unsubscribe(*codec.decode_unsubscribe(body, self._level))
        elif packet_type == codec.DISCONNECT:
            self._close(None)
        elif packet_type == codec.CONNECT:
            self._close(topics.DISCONNECT_PROTOCOL_ERROR)
        # PUBACK for a downlink RPC and the QoS 2 flow carry nothing the emulator tracks.

    def _on_connect(self, body: bytes) -> None:
        self._connect_seen = True
        connect = codec.decode_connect(body)
        self._level = connect.protocol_level
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if topics.PROVISION_USERNAME in (connect.username, connect.client_id):
            self._provision_only = True
            self._write(codec.encode_connack(self._level, topics.CONNACK_ACCEPTED))
            self._start_keepalive(connect.keepalive)
            return
        try:
            device = self._authenticate(connect)
        except Exception:
            log.exception("credential check failed")
            self._refuse(topics.CONNACK_SERVER_UNAVAILABLE)
            return
        if device is None:
            self._refuse(self._refusal_code(connect))
            return
        self._device = device
        try:
            self._handle = self._api.open_session(device, self)
        except Exception:
            log.exception("opening a session for device %s failed", device.device_id)
            self._refuse(topics.CONNACK_SERVER_UNAVAILABLE)
            return
        # TB sets "session present" from the clean-session flag although it keeps no session state.
        connack = codec.encode_connack(self._level, 0, session_present=not connect.clean_session)
        self._write(connack)
        self._start_keepalive(connect.keepalive)

    def _authenticate(self, connect: codec.Connect) -> DeviceRef | None:
        device = self._api.authenticate(connect.username) if connect.username is not None else None
        # MQTT_BASIC credentials are outside the DeviceApi protocol; the core offers them when it can.
        basic = getattr(self._api, "authenticate_basic", None)
        if device is None and basic is not None:
            password = None if connect.password is None else connect.password.decode("utf-8", "replace")
            device = basic(connect.client_id or None, connect.username, password)
        return device

    @staticmethod
    def _refusal_code(connect: codec.Connect) -> int:
        # TB's onValidateDeviceResponse: the code depends on which credentials fields were present.
        has_user = connect.username is not None
        has_password = connect.password is not None
        if (has_user and has_password) or (has_user != has_password):
            return topics.CONNACK_BAD_USERNAME_OR_PASSWORD
        if connect.client_id.strip():
            return topics.CONNACK_CLIENT_ID_NOT_VALID
        return topics.CONNACK_NOT_AUTHORIZED

    def _refuse(self, code: int) -> None:
        wire_code = code if self._level == MQTT_5 else topics.CONNACK_V3[code]
        self._write(codec.encode_connack(self._level, wire_code))
        self._close(code)

    def _start_keepalive(self, keepalive: int) -> None:
        if keepalive > 0:
            self._keepalive_s = keepalive * 1.5
            self._timer = self._loop.call_later(self._keepalive_s, self._check_keepalive)

    def _check_keepalive(self) -> None:
        idle = self._loop.time() - self._last_rx
        if idle >= self._keepalive_s:
            log.info("closing an MQTT session: silent for %.1f s", idle)
            self._close(topics.DISCONNECT_KEEP_ALIVE_TIMEOUT)
        else:
            self._timer = self._loop.call_later(self._keepalive_s - idle, self._check_keepalive)

    def _on_connect_timeout(self) -> None:
        self._timer = None
        if not self._connect_seen:
            self._close(None)

    def _on_publish(self, topic: str, packet_id: int, payload: bytes) -> None:
        device = self._device
        assert device is not None
        try:
            if topic == topics.TELEMETRY:
                self._api.post_telemetry(device, _json_telemetry(payload))
            elif topic == topics.ATTRIBUTES:
                self._api.post_attributes(device, _json_object(payload))
            elif topic.startswith(topics.ATTRIBUTES_REQUEST_PREFIX):
                self._on_attribute_request(device, topic, packet_id, payload)
                return
            elif topic.startswith(topics.RPC_RESPONSE_PREFIX):
                request_id = _parse_request_id(topic[len(topics.RPC_RESPONSE_PREFIX) :])
                # The raw text goes through: the REST side answers 406 for a reply that is not JSON.
                self._api.reply_to_rpc(device, request_id, payload)
            elif topic.startswith(topics.RPC_REQUEST_PREFIX):
                self._on_client_rpc(topic, packet_id, payload)
                return
            elif topic == topics.CLAIM:
                self._api.claim(device, _json_object(payload) if payload.strip() else {})
            else:
                self._api.record_activity(device)
                self._ack(packet_id, topics.PUBACK_TOPIC_NAME_INVALID)
                return
        except (ValueError, DeviceApiError) as exc:
            self._on_publish_error(topic, packet_id, exc)
            return
        except Exception:
            log.exception("processing a publish on %s failed", topic)
            self._ack(packet_id, topics.PUBACK_IMPLEMENTATION_SPECIFIC_ERROR)
            self._close(topics.DISCONNECT_IMPLEMENTATION_SPECIFIC_ERROR)
            return
        if packet_id:
            self._write(codec.encode_puback(self._level, packet_id))

    def _on_attribute_request(self, device: DeviceRef, topic: str, packet_id: int, payload: bytes) -> None:
        request_id = _parse_request_id(topic[len(topics.ATTRIBUTES_REQUEST_PREFIX) :])
        body = _json_object(payload)
        client_keys, shared_keys = _key_list(body, "clientKeys"), _key_list(body, "sharedKeys")
        response = self._api.request_attributes(device, client_keys, shared_keys)
        self._ack(packet_id, 0)
        topic = topics.ATTRIBUTES_RESPONSE_PREFIX + str(request_id)
        self._publish(topic, _dumps(response), topics.ATTRIBUTES_RESPONSE_SUB)

    def _on_client_rpc(self, topic: str, packet_id: int, payload: bytes) -> None:
        request_id = _parse_request_id(topic[len(topics.RPC_REQUEST_PREFIX) :])
        body = _json_object(payload)
        if not isinstance(body.get("method"), str):
            raise _BadPayloadError("client RPC without a method")
        if body["method"] == topics.SESSION_LIMITS_METHOD:
            # Answered by TB's transport itself, before the rule engine sees it.
            self._ack(packet_id, 0)
            self.deliver_client_rpc_response(request_id, self._session_limits())
            return
        assert self._handle is not None
        self._api.client_rpc(self._handle, request_id, body)
        self._ack(packet_id, 0)

    def _session_limits(self) -> dict[str, Any]:
        return {
            "maxPayloadSize": self._settings.max_payload_bytes,
            "maxInflightMessages": self._settings.max_inflight_messages,
            "rateLimits": {"messages": "", "telemetryMessages": "", "telemetryDataPoints": ""},
        }

    def _on_publish_error(self, topic: str, packet_id: int, exc: Exception) -> None:
        if isinstance(exc, DeviceApiError) and exc.kind not in {"bad_payload", "too_large"}:
            log.info("closing an MQTT session: %s on %s", exc.message, topic)
            self._ack(packet_id, topics.PUBACK_IMPLEMENTATION_SPECIFIC_ERROR)
            self._close(topics.DISCONNECT_IMPLEMENTATION_SPECIFIC_ERROR)
            return
        # TB's sendResponseForAdaptorErrorOrCloseContext: MQTT 5 QoS 1 gets a PUBACK 0x99, all else is closed.
        if self._level == MQTT_5 and packet_id:
            self._write(codec.encode_puback(self._level, packet_id, topics.PUBACK_PAYLOAD_FORMAT_INVALID))
        else:
            log.info("closing an MQTT session: invalid payload on %s (%s)", topic, exc)
            self._close(topics.DISCONNECT_PAYLOAD_FORMAT_INVALID)

    def _on_provision_publish(self, topic: str, packet_id: int, payload: bytes) -> None:
        if topic != topics.PROVISION_REQUEST:
            self._ack(packet_id, topics.PUBACK_TOPIC_NAME_INVALID)
            self._close(topics.DISCONNECT_TOPIC_NAME_INVALID)
            return
        try:
            response = self._api.provision(_json_object(payload))
        except (ValueError, DeviceApiError) as exc:
            self._on_publish_error(topic, packet_id, exc)
            return
        except Exception:
            log.exception("provisioning failed")
            self._ack(packet_id, topics.PUBACK_IMPLEMENTATION_SPECIFIC_ERROR)
            self._close(topics.DISCONNECT_IMPLEMENTATION_SPECIFIC_ERROR)
            return
        self._ack(packet_id, 0)
        self._publish(topics.PROVISION_RESPONSE, _dumps(response), topics.PROVISION_RESPONSE)
        # TB keeps a provisioning session open for a while after answering, then closes it.
        self._loop.call_later(self._settings.provision_close_delay_s, self._close, None)

    def _on_subscribe(self, packet_id: int, requested: list[tuple[str, int]]) -> None:
        codes: list[int] = []
        refused = topics.SUBACK_TOPIC_FILTER_INVALID if self._level == MQTT_5 else topics.SUBACK_FAILURE_V3
        register: list[str] = []
        for topic, qos in requested:
            if self._provision_only:
                accepted = topic == topics.PROVISION_RESPONSE
            elif topic in (topics.ATTRIBUTES, topics.RPC_REQUEST_SUB):
                accepted = True
                register.append(topic)
            else:
                accepted = topic in topics.PASSIVE_SUBSCRIPTIONS
            if accepted:
                self._subs[topic] = min(qos, 1)
                codes.append(min(qos, 1))
            else:
                log.info("refusing a subscription to %r", topic)
                codes.append(refused)
        self._write(codec.encode_suback(packet_id, codes, self._level))
        # TB's device actor registers the subscription asynchronously, so queued RPCs follow the SUBACK.
        handle = self._handle
        if handle is None:
            return
        for topic in register:
            if topic == topics.ATTRIBUTES:
                self._api.subscribe_attributes(handle)
            else:
                self._api.subscribe_rpc(handle)
        if not register:
            self._api.record_activity(handle.device)

    def _on_unsubscribe(self, packet_id: int, filters: list[str]) -> None:
        codes: list[int] = []
        for topic in filters:
            if self._subs.pop(topic, None) is None:
                codes.append(topics.UNSUBACK_NO_SUBSCRIPTION_EXISTED)
                continue
            codes.append(topics.UNSUBACK_SUCCESS)
            # The contract has no unsubscribe call; the handle's flags tell the core to stop pushing.
            if self._handle is not None and topic == topics.ATTRIBUTES:
                self._handle.attributes_subscribed = False
            elif self._handle is not None and topic == topics.RPC_REQUEST_SUB:
                self._handle.rpc_subscribed = False
        if self._device is not None:
            self._api.record_activity(self._device)
        self._write(codec.encode_unsuback(packet_id, codes, self._level))

    # -- output ----------------------------------------------------------------------------------------------

    def _publish(self, topic: str, body: str, subscription: str) -> None:
        if self._closing:
            return
        qos = self._subs.get(subscription, 0)
        packet_id = 0
        if qos:
            self._next_packet_id = self._next_packet_id % 0xFFFF + 1
            packet_id = self._next_packet_id
        packet = codec.encode_publish(topic, body.encode(), qos=qos, packet_id=packet_id, level=self._level)
        self._write(packet)

    def _ack(self, packet_id: int, reason_code: int) -> None:
        if packet_id:
            self._write(codec.encode_puback(self._level, packet_id, reason_code))

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._closing:
            return
        self._out.append(data)
        if not self._in_read and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out or self._transport is None or self._transport.is_closing():
            out.clear()
            return
        self._out = []
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _close(self, reason_code: int | None) -> None:
        """Close like TB's ``closeCtx``: MQTT 5 clients get a DISCONNECT with the reason first."""
        if self._closing or self._transport is None:
            return
        if reason_code is not None and self._level == MQTT_5 and self._connect_seen:
            self._out.append(codec.encode_disconnect(MQTT_5, reason_code))
        self._flush()
        self._closing = True
        self._transport.close()
