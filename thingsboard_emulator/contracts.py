"""Seams between the emulator's core and its transports.

The core (entities, credentials, telemetry, RPC, claiming, provisioning) knows nothing about MQTT, HTTP or
WebSocket framing; each transport knows nothing about how entities are stored. Transports receive a
``DeviceApi`` (device side) or an ``EntityEvents`` plus ``TelemetryReader`` (WebSocket side) from the core.

All methods are called on the emulator's event loop. Synchronous methods must not block: the core keeps its
state in memory and persists write-behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

AttributeScope = Literal["CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE"]
JsonValue = Any


class DeviceApiError(Exception):
    """A device-side request the core refuses.

    ``kind`` tells the transport how to react the way ThingsBoard does: on MQTT 3.1.1 a ``bad_payload`` closes
    the session; over HTTP it is a 400.
    """

    def __init__(self, kind: Literal["bad_payload", "unauthorized", "not_found", "too_large"], message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """The identity a device's credential resolves to."""

    device_id: str
    name: str
    tenant_id: str
    device_profile_id: str


@dataclass(frozen=True, slots=True)
class RpcRequest:
    """A server-side RPC on its way to a device: ``{"method": ..., "params": ...}`` on the wire."""

    request_id: int
    method: str
    params: JsonValue
    one_way: bool


class DeviceSession(Protocol):
    """A transport's live connection for one device; the core pushes downlink messages through it."""

    def deliver_rpc_request(self, request: RpcRequest) -> None:
        """Send a server-side RPC to the device (``v1/devices/me/rpc/request/{id}`` on MQTT)."""

    def deliver_attribute_update(self, update: dict[str, JsonValue]) -> None:
        """Send changed shared attributes (``{"key": value}``; ``{"deleted": [keys]}`` for deletions)."""

    def deliver_client_rpc_response(self, request_id: int, payload: JsonValue) -> None:
        """Answer a client-side RPC the device made (``v1/devices/me/rpc/response/{id}``)."""

    def close(self, reason: str) -> None:
        """Drop the connection: the device was deleted, its credentials rotated, or a fault was injected."""


@dataclass(slots=True)
class SessionHandle:
    """What ``DeviceApi.open_session`` returns; pass it back on every later call for that session."""

    session_id: str
    device: DeviceRef
    rpc_subscribed: bool = False
    attributes_subscribed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class DeviceApi(Protocol):
    """The device-facing core shared by the MQTT and HTTP device transports."""

    def authenticate(self, access_token: str) -> DeviceRef | None:
        """Resolve an ACCESS_TOKEN credential; ``None`` when unknown (CONNACK 5 / HTTP 401)."""

    def open_session(self, device: DeviceRef, session: DeviceSession) -> SessionHandle:
        """Register a connected session; records ``lastConnectTime`` and activity."""

    def close_session(self, handle: SessionHandle) -> None:
        """Forget a session; records ``lastDisconnectTime``."""

    def subscribe_rpc(self, handle: SessionHandle) -> None:
        """The session now listens for server-side RPC; queued requests are delivered at once."""

    def subscribe_attributes(self, handle: SessionHandle) -> None:
        """The session now listens for shared-attribute updates."""

    def post_telemetry(self, device: DeviceRef, payload: JsonValue) -> None:
        """Save telemetry in any of TB's payload forms; raises ``DeviceApiError('bad_payload')``."""

    def post_attributes(self, device: DeviceRef, payload: JsonValue) -> None:
        """Save CLIENT_SCOPE attributes; raises ``DeviceApiError('bad_payload')``."""

    def request_attributes(
        self, device: DeviceRef, client_keys: list[str] | None, shared_keys: list[str] | None
    ) -> dict[str, dict[str, JsonValue]]:
        """Answer an attribute request: ``{"client": {...}, "shared": {...}}`` (empty sections omitted)."""

    def reply_to_rpc(self, device: DeviceRef, request_id: int, payload: JsonValue) -> None:
        """The device's answer to a server-side RPC."""

    def client_rpc(self, handle: SessionHandle, request_id: int, payload: JsonValue) -> None:
        """A client-side RPC from the device; answered later via ``deliver_client_rpc_response``."""

    def claim(self, device: DeviceRef, payload: JsonValue) -> None:
        """Register a claim request ``{"secretKey": ..., "durationMs": ...}`` (both optional)."""

    def provision(self, request: JsonValue) -> dict[str, JsonValue]:
        """Answer a provisioning request; the reply always has a ``status`` (HTTP 200 on failure too)."""

    def record_activity(self, device: DeviceRef) -> None:
        """Any uplink counts as activity (``active``/``lastActivityTime``)."""


@dataclass(frozen=True, slots=True)
class TimeseriesUpdate:
    """New telemetry for one entity: ``{key: [(ts, value), ...]}``, newest first."""

    entity_id: str
    values: dict[str, list[tuple[int, JsonValue]]]


@dataclass(frozen=True, slots=True)
class AttributesUpdate:
    """Changed attributes of one entity in one scope: ``{key: (lastUpdateTs, value)}``."""

    entity_id: str
    scope: AttributeScope
    values: dict[str, tuple[int, JsonValue]]
    deleted: tuple[str, ...] = ()


EntityListener = Callable[[TimeseriesUpdate | AttributesUpdate], None]


class EntityEvents(Protocol):
    """Change feed the WebSocket subscriptions are built on."""

    def subscribe(self, entity_id: str, listener: EntityListener) -> Callable[[], None]:
        """Call ``listener`` for every change of ``entity_id``; returns the function that unsubscribes."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a REST/WebSocket JWT belongs to; ``customer_id`` is set for CUSTOMER_USER authority only."""

    user_id: str
    tenant_id: str
    customer_id: str | None
    authority: Literal["SYS_ADMIN", "TENANT_ADMIN", "CUSTOMER_USER"]


class TelemetryReader(Protocol):
    """What the WebSocket layer needs from the core besides the change feed."""

    @property
    def events(self) -> EntityEvents:
        """The change feed."""

    def authenticate_jwt(self, token: str) -> Principal | None:
        """Validate an access JWT (signature, expiry, user enabled); ``None`` when not acceptable."""

    def authenticate_api_key(self, value: str) -> Principal | str:
        """The user an API key stands for, or TB's reason for refusing the key."""

    def can_read(self, principal: Principal, entity_type: str, entity_id: str) -> bool:
        """Tenant isolation and customer scoping, as the REST API applies them."""

    def latest_timeseries(self, entity_id: str, keys: list[str] | None) -> dict[str, tuple[int, JsonValue]]:
        """Latest value per key (all keys when ``keys`` is None)."""

    def timeseries_history(
        self,
        entity_id: str,
        keys: list[str],
        start_ts: int,
        end_ts: int,
        *,
        limit: int,
        agg: str,
        interval: int | None,
    ) -> dict[str, list[tuple[int, JsonValue]]]:
        """History in ``[start_ts, end_ts)``, newest first, as the REST timeseries endpoint computes it."""

    def attributes(
        self, entity_id: str, scope: AttributeScope | None, keys: list[str] | None
    ) -> dict[str, tuple[int, JsonValue]]:
        """Attributes as ``{key: (lastUpdateTs, value)}``; every scope when ``scope`` is None."""
