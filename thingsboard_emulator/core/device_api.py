"""``DeviceApi``: what MQTT and the HTTP device API do on behalf of a device (reference §3, §4, §5)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from thingsboard_emulator.contracts import DeviceApiError, DeviceRef, DeviceSession, JsonValue, SessionHandle
from thingsboard_emulator.core.model import NULL_UUID, Device, now_ms, random_token
from thingsboard_emulator.core.values import parse_attributes, parse_telemetry

if TYPE_CHECKING:
    from thingsboard_emulator.core.service import Core

log = logging.getLogger(__name__)

ClientRpcHandler = Callable[[DeviceRef, str, JsonValue], JsonValue]

SESSION_LIMITS_METHOD = "getSessionLimits"


class DeviceGateway:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._ids = itertools.count(1)
        self._sessions: dict[str, tuple[SessionHandle, DeviceSession]] = {}
        self._by_device: dict[str, set[str]] = {}
        self._claims: dict[str, tuple[str, int]] = {}  # device id -> (secretKey, expirationTime)
        # Client-side RPC: TB's default rule chain only logs it, so the device gets {"error":"timeout"}.
        self.client_rpc_handler: ClientRpcHandler | None = None

    # --- identity & sessions --------------------------------------------------------------------------------

    def _ref(self, device: Device) -> DeviceRef:
        return DeviceRef(device.id, device.name, device.tenant_id, device.profile_id)

    def authenticate(self, access_token: str) -> DeviceRef | None:
        device_id = self._core.by_token.get(access_token)
        device = None if device_id is None else self._core.devices.get(device_id)
        return None if device is None else self._ref(device)

    def authenticate_basic(
        self, client_id: str | None, username: str | None, password: str | None
    ) -> DeviceRef | None:
        """MQTT_BASIC credentials (``credentialsValue`` = ``{"clientId","userName","password"}``)."""
        for cred in self._core.credentials.values():
            if cred.credentials_type != "MQTT_BASIC" or not cred.credentials_value:
                continue
            try:
                value = json.loads(cred.credentials_value)
            except ValueError:
                continue
            if value.get("clientId") and value.get("clientId") != client_id:
                continue
            if value.get("userName") and value.get("userName") != username:
                continue
            if value.get("password") and value.get("password") != password:
                continue
            device = self._core.devices.get(cred.device_id)
            if device is not None:
                return self._ref(device)
        return None

    def open_session(self, device: DeviceRef, session: DeviceSession) -> SessionHandle:
        return self.open(device, session, track_connect=True)

    def open(self, device: DeviceRef, session: DeviceSession, *, track_connect: bool) -> SessionHandle:
        handle = SessionHandle(f"s{next(self._ids)}", device)
        handle.extra["track_connect"] = track_connect
        self._sessions[handle.session_id] = (handle, session)
        self._by_device.setdefault(device.device_id, set()).add(handle.session_id)
        if track_connect and device.device_id in self._core.devices:
            now = now_ms()
            self._core.telemetry.save_attributes(
                device.device_id, "SERVER_SCOPE", {"lastConnectTime": now}, now
            )
        self._core.touch(device.device_id)
        return handle

    def close_session(self, handle: SessionHandle) -> None:
        if self._sessions.pop(handle.session_id, None) is None:
            return
        ids = self._by_device.get(handle.device.device_id)
        if ids is not None:
            ids.discard(handle.session_id)
            if not ids:
                del self._by_device[handle.device.device_id]
        if handle.extra.get("track_connect") and handle.device.device_id in self._core.devices:
            now = now_ms()
            self._core.telemetry.save_attributes(
                handle.device.device_id, "SERVER_SCOPE", {"lastDisconnectTime": now}, now
            )
            if self._core.behaviour.activity_on_disconnect:
                # TB 4.3 records the CLOSED session event as activity, so a disconnect (even one caused by
                # the device going quiet) moves lastActivityTime and makes an inactive device active again.
                self._core.touch(handle.device.device_id)

    def _device_sessions(self, device_id: str) -> list[tuple[SessionHandle, DeviceSession]]:
        return [self._sessions[sid] for sid in self._by_device.get(device_id, ()) if sid in self._sessions]

    def rpc_sessions(self, device_id: str) -> list[DeviceSession]:
        return [session for handle, session in self._device_sessions(device_id) if handle.rpc_subscribed]

    def close_device_sessions(self, device_id: str, reason: str) -> None:
        for handle, session in self._device_sessions(device_id):
            self.close_session(handle)
            try:
                session.close(reason)
            except Exception:  # a transport failing to close must not stop the others
                log.exception("closing a session failed")

    def close_all(self, reason: str) -> None:
        for device_id in list(self._by_device):
            self.close_device_sessions(device_id, reason)

    def forget_device(self, device_id: str) -> None:
        self._claims.pop(device_id, None)

    def session_count(self) -> int:
        return len(self._sessions)

    def subscribe_rpc(self, handle: SessionHandle) -> None:
        handle.rpc_subscribed = True
        self._core.touch(handle.device.device_id)
        self._core.rpc.on_subscribe(handle.device.device_id)

    def subscribe_attributes(self, handle: SessionHandle) -> None:
        handle.attributes_subscribed = True
        self._core.touch(handle.device.device_id)

    def push_attributes(self, device_id: str, update: dict[str, JsonValue]) -> None:
        for handle, session in self._device_sessions(device_id):
            if handle.attributes_subscribed:
                session.deliver_attribute_update(update)

    # --- uplink ---------------------------------------------------------------------------------------------

    def _live(self, device: DeviceRef) -> Device:
        found = self._core.devices.get(device.device_id)
        if found is None:
            raise DeviceApiError("unauthorized", "Device was deleted!")
        return found

    def post_telemetry(self, device: DeviceRef, payload: JsonValue) -> None:
        self._live(device)
        entries = parse_telemetry(payload, now_ms())
        self._core.touch(device.device_id)
        self._core.telemetry.save_timeseries(device.device_id, entries)

    def post_attributes(self, device: DeviceRef, payload: JsonValue) -> None:
        self._live(device)
        values = parse_attributes(payload)
        self._core.touch(device.device_id)
        self._core.save_attributes(device.device_id, "CLIENT_SCOPE", values)

    def request_attributes(
        self, device: DeviceRef, client_keys: list[str] | None, shared_keys: list[str] | None
    ) -> dict[str, dict[str, JsonValue]]:
        self._live(device)
        self._core.touch(device.device_id)
        store = self._core.telemetry
        out: dict[str, dict[str, JsonValue]] = {}
        if not client_keys and not shared_keys:
            client = store.attributes(device.device_id, "CLIENT_SCOPE", None)
            shared = store.attributes(device.device_id, "SHARED_SCOPE", None)
        else:
            client = store.attributes(device.device_id, "CLIENT_SCOPE", client_keys) if client_keys else {}
            shared = store.attributes(device.device_id, "SHARED_SCOPE", shared_keys) if shared_keys else {}
        if client:
            out["client"] = {k: v for k, (_, v) in client.items()}
        if shared:
            out["shared"] = {k: v for k, (_, v) in shared.items()}
        return out

    def reply_to_rpc(self, device: DeviceRef, request_id: int, payload: JsonValue) -> None:
        self._core.touch(device.device_id)
        self._core.rpc.on_reply(device.device_id, request_id, payload)

    def client_rpc(self, handle: SessionHandle, request_id: int, payload: JsonValue) -> None:
        self._core.touch(handle.device.device_id)
        entry = self._sessions.get(handle.session_id)
        if entry is None:
            return
        session = entry[1]
        if not isinstance(payload, dict) or not isinstance(payload.get("method"), str):
            raise DeviceApiError("bad_payload", "Can't parse RPC request")
        method, params = payload["method"], payload.get("params")
        if method == SESSION_LIMITS_METHOD:
            session.deliver_client_rpc_response(request_id, self.session_limits())
            return
        if self.client_rpc_handler is not None:
            result = self.client_rpc_handler(handle.device, method, params)
            if result is not None:
                session.deliver_client_rpc_response(request_id, result)
                return
        loop = asyncio.get_running_loop()
        loop.call_later(
            self._core.config.client_rpc_timeout_ms / 1000,
            self._client_rpc_timeout,
            handle.session_id,
            request_id,
        )

    def _client_rpc_timeout(self, session_id: str, request_id: int) -> None:
        entry = self._sessions.get(session_id)
        if entry is not None:
            entry[1].deliver_client_rpc_response(request_id, {"error": "timeout"})

    def session_limits(self) -> dict[str, JsonValue]:
        return {
            "maxPayloadSize": self._core.config.max_payload_bytes,
            "maxInflightMessages": 100,
            "rateLimits": {"messages": "", "telemetryMessages": "", "telemetryDataPoints": ""},
        }

    def record_activity(self, device: DeviceRef) -> None:
        self._core.touch(device.device_id)

    # --- claiming (reference §3) ----------------------------------------------------------------------------

    def claim(self, device: DeviceRef, payload: JsonValue) -> None:
        found = self._live(device)
        self._core.touch(device.device_id)
        if payload is None or payload == "":
            payload = {}
        if not isinstance(payload, dict):
            raise DeviceApiError("bad_payload", "Can't parse claim request")
        secret = payload.get("secretKey", "")
        secret = "" if secret is None else str(secret)
        duration = payload.get("durationMs")
        if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
            duration = self._core.config.claim_duration_ms
        self.register_claim(found, secret, int(duration))

    def register_claim(self, device: Device, secret: str, duration_ms: int) -> bool:
        if device.customer_id != NULL_UUID:
            log.info("Device [%s] has been already claimed!", device.name)
            return False
        if not self._core.config.allow_claiming_by_default:
            allowed = self._core.telemetry.attribute(device.id, "SERVER_SCOPE", "claimingAllowed")
            if allowed is not True:
                return False
        existing = self._claims.get(device.id)
        if existing is not None and existing[1] > now_ms():
            return False  # putIfAbsent: a live registration keeps its first secret
        self._claims[device.id] = (secret, now_ms() + duration_ms)
        return True

    def claim_by_customer(self, device: Device, customer_id: str, secret: str) -> str:
        """``SUCCESS``, ``FAILURE`` or ``CLAIMED``, with TB's eviction rules (reference §3.3)."""
        data = self._claims.get(device.id)
        from_cache = data is not None
        if data is None:
            data = self._claim_data_attribute(device.id)
        if data is None:
            return "FAILURE" if device.customer_id == NULL_UUID else "CLAIMED"
        stored_secret, expiration = data
        if expiration < now_ms() or stored_secret != secret:
            if from_cache:
                del self._claims[device.id]
            return "FAILURE"
        if device.customer_id != NULL_UUID:
            return "CLAIMED"
        device.customer_id = customer_id
        device.version += 1
        self._core.persist_device(device)
        self._claims.pop(device.id, None)
        self._core.telemetry.delete_attributes(device.id, "SERVER_SCOPE", ["claimingAllowed", "claimingData"])
        return "SUCCESS"

    def _claim_data_attribute(self, device_id: str) -> tuple[str, int] | None:
        """TB's fallback store: SERVER attribute ``claimingData`` (``{"secretKey", "expirationTime"}``)."""
        raw = self._core.telemetry.attribute(device_id, "SERVER_SCOPE", "claimingData")
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
            return str(data.get("secretKey") or ""), int(data["expirationTime"])
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def reclaim(self, device: Device) -> None:
        self._claims.pop(device.id, None)
        if device.customer_id != NULL_UUID:
            device.customer_id = NULL_UUID
            device.version += 1
            self._core.persist_device(device)
        if not self._core.config.allow_claiming_by_default:
            self._core.save_attributes(device.id, "SERVER_SCOPE", {"claimingAllowed": True})

    # --- provisioning (reference §4) ------------------------------------------------------------------------

    def provision(self, request: JsonValue) -> dict[str, JsonValue]:  # noqa: PLR0911 - one return per TB outcome
        if not isinstance(request, dict):
            raise DeviceApiError("bad_payload", "Provision request is not a JSON object")
        key, secret = request.get("provisionDeviceKey"), request.get("provisionDeviceSecret")
        if key is None or secret is None:
            raise DeviceApiError(
                "bad_payload", "Failed to parse provision request: key and secret are required"
            )
        not_found: dict[str, JsonValue] = {"errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
        failure: dict[str, JsonValue] = {"errorMsg": "Failed to provision device!", "status": "FAILURE"}
        if not key or not secret:
            return not_found
        profile = next((p for p in self._core.profiles.values() if p.provision_key == key), None)
        if profile is None or profile.provision_secret is None or profile.provision_type == "DISABLED":
            return not_found
        if profile.provision_secret != secret:
            return not_found
        name = request.get("deviceName")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            return failure
        name = name.strip() if isinstance(name, str) else None
        if profile.provision_type == "ALLOW_CREATE_NEW_DEVICES":
            return self._provision_new(profile, name or random_token(20), request) or failure
        if profile.provision_type == "CHECK_PRE_PROVISIONED_DEVICES":
            device = None if name is None else self._core.device_by_name(profile.tenant_id, name)
            if device is None or device.profile_id != profile.id:
                return failure
            if self._core.telemetry.attribute(device.id, "SERVER_SCOPE", "provisionState") is not None:
                return failure
            self._core.save_attributes(device.id, "SERVER_SCOPE", {"provisionState": "provisioned"})
            return self._credentials_response(device.id)
        raise DeviceApiError("bad_payload", "Unsupported provision type for key/secret provisioning")

    def _provision_new(self, profile: Any, name: str, request: dict[str, Any]) -> dict[str, JsonValue] | None:
        core = self._core
        if core.device_by_name(profile.tenant_id, name) is not None:
            return None
        cred_type = request.get("credentialsType") or "ACCESS_TOKEN"
        if cred_type == "ACCESS_TOKEN":
            token = request.get("token") or random_token(20)
            if not isinstance(token, str) or token in core.by_token:
                return None
            device = core.create_device(
                profile.tenant_id,
                name,
                profile,
                additional_info={"gateway": True} if request.get("gateway") is True else None,
            )
            core.set_token(device.id, token)
        elif cred_type == "MQTT_BASIC":
            value = {
                "clientId": request.get("clientId"),
                "userName": request.get("username"),
                "password": request.get("password"),
            }
            device = core.create_device(profile.tenant_id, name, profile)
            cred = core.set_token(device.id, random_token(20))
            core.by_token.pop(cred.credentials_id, None)
            cred.credentials_type = "MQTT_BASIC"
            cred.credentials_value = json.dumps(value)
            core.persist_credentials(cred)
        else:
            return None
        core.save_attributes(device.id, "SERVER_SCOPE", {"provisionState": "provisioned"})
        return self._credentials_response(device.id)

    def _credentials_response(self, device_id: str) -> dict[str, JsonValue]:
        cred = self._core.credentials[device_id]
        value: JsonValue = cred.credentials_id
        if cred.credentials_type == "MQTT_BASIC" and cred.credentials_value:
            value = json.loads(cred.credentials_value)
        return {"credentialsValue": value, "credentialsType": cred.credentials_type, "status": "SUCCESS"}
