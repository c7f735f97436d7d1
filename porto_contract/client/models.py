"""Typed bodies of the app's flows. Each model names the OpenAPI schema it mirrors (``schema_name``), and
tests/contract checks the two agree on fields and required-ness, so drift in petit fails CI here."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - pydantic resolves annotations at runtime
from typing import Any, ClassVar
from uuid import UUID  # noqa: TC003 - pydantic resolves annotations at runtime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Body(BaseModel):
    # extra="allow": a newer petit may add fields; an app built on this client must not break on them.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)
    schema_name: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SnakeBody(Body):
    # Seed 004's gateway bodies are snake_case on the wire, as the seed wrote them.
    model_config = ConfigDict(alias_generator=None, populate_by_name=True, extra="allow", frozen=True)


class SignupRequest(Body):
    schema_name = "SignupRequest"
    email: str
    password: str


class LoginRequest(Body):
    schema_name = "LoginRequest"
    email: str
    password: str


class RefreshRequest(Body):
    schema_name = "RefreshRequest"
    refresh_token: str


class TokenPair(Body):
    schema_name = "TokenPair"
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret


class UserRead(Body):
    schema_name = "UserRead"
    id: UUID
    email: str
    created_at: datetime


class PairingCreate(Body):
    schema_name = "PairingCreate"
    name: str
    label: str | None = None


class PairingStarted(Body):
    schema_name = "PairingStarted"
    pairing_id: UUID
    pair_key: str
    owner_key: str
    access_token: str
    mqtt_host: str
    mqtt_port: int
    expires_at: datetime
    state: str


class PairingRead(Body):
    schema_name = "PairingRead"
    id: UUID
    name: str
    state: str
    device_id: UUID | None
    failure_reason: str | None
    created_at: datetime
    expires_at: datetime
    connected_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state not in ("pending", "device_connected")


class ClaimCodeCreated(Body):
    schema_name = "ClaimCodeCreated"
    claim_code: str
    expires_at: datetime


class ClaimRequest(Body):
    schema_name = "ClaimRequest"
    claim_code: str
    device_name: str


class DeviceRead(Body):
    schema_name = "DeviceRead"
    id: UUID
    name: str
    label: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class DevicePage(Body):
    schema_name = "DevicePage"
    items: list[DeviceRead]
    total: int
    limit: int
    offset: int


class DeviceCreate(Body):
    schema_name = "DeviceCreate"
    name: str
    label: str | None = None
    metadata: dict[str, Any] | None = None


class ProvisioningTokenCreate(SnakeBody):
    schema_name = "ProvisioningTokenCreate"
    lifetime_minutes: int | None = None
    never_expires: bool | None = None
    notes: str | None = None


class ProvisioningTokenIssued(SnakeBody):
    schema_name = "ProvisioningTokenIssued"
    device_id: UUID
    token: str
    expires_at: datetime | None


class ReadingRead(Body):
    schema_name = "ReadingRead"
    ts: int
    value: Any


class LatestTelemetryRead(Body):
    schema_name = "LatestTelemetryRead"
    device_id: UUID
    values: dict[str, ReadingRead | None]


class TelemetryHistoryRead(Body):
    schema_name = "TelemetryHistoryRead"
    device_id: UUID
    series: dict[str, list[ReadingRead]]
    start_ts: int
    end_ts: int
    interval_ms: int | None
    aggregation: str


class CommandCreate(Body):
    schema_name = "CommandCreate"
    function: str | None = None
    params: Any = None
    mode: str | None = None
    timeout_ms: int | None = None


class CommandResultRead(Body):
    schema_name = "CommandResultRead"
    device_id: UUID
    function: str
    mode: str
    response: Any = None


class StreamDeviceRead(Body):
    schema_name = "StreamDeviceRead"
    device_id: UUID
    stream_id: UUID


class StreamTokenRead(Body):
    schema_name = "StreamTokenRead"
    token: str
    ws_url: str
    expires_at: datetime
    devices: list[StreamDeviceRead]


class DeviceUpdate(Body):
    schema_name = "DeviceUpdate"
    name: str | None = None
    label: str | None = None
    metadata: dict[str, Any] | None = None


class DeviceCredentialsRead(Body):
    schema_name = "DeviceCredentialsRead"
    device_id: UUID
    access_token: str
    mqtt_host: str
    mqtt_port: int


class DeviceEventRead(Body):
    schema_name = "DeviceEventRead"
    id: UUID
    flow: str
    action: str
    outcome: str
    reason: str | None
    actor_user_id: UUID | None
    client_ip: str | None
    details: dict[str, Any]
    occurred_at: datetime


class DeviceEventPage(Body):
    schema_name = "DeviceEventPage"
    items: list[DeviceEventRead]
    total: int
    limit: int
    offset: int


class DeviceSettingsRead(Body):
    schema_name = "DeviceSettingsRead"
    device_id: UUID
    values: dict[str, Any]


class DeviceSettingsUpdate(Body):
    schema_name = "DeviceSettingsUpdate"
    values: dict[str, Any]


class DeviceSettingsReplace(Body):
    schema_name = "DeviceSettingsReplace"
    values: dict[str, Any]


class ProvisioningClaimRead(SnakeBody):
    schema_name = "ProvisioningClaimRead"
    token_id: UUID
    issued_at: datetime
    claimed_at: datetime
    claim_ip: str | None
    device_metadata: dict[str, Any] | None
    notes: str | None


class ProvisioningClaimList(SnakeBody):
    schema_name = "ProvisioningClaimList"
    device_id: UUID
    items: list[ProvisioningClaimRead]


class GatewayLatestTelemetry(SnakeBody):
    schema_name = "GatewayLatestTelemetry"
    device_id: UUID
    payload: dict[str, Any]
    timestamp: datetime | None


class ReprovisionApproval(Body):
    schema_name = "ReprovisionApproval"
    device_id: UUID
    mac_address: str
    allowed_until: datetime


# The device-local API (porto_contract/device/local-api.openapi.json).


class ConfigData(Body):
    schema_name = "ConfigData"
    ssid: str
    password: str
    owner_key: str
    pair_key: str | None = None
    access_token: str | None = None
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    claim_secret: str | None = None
    claim_duration_ms: int | None = None
    provision_device_key: str | None = None
    provision_device_secret: str | None = None
    device_name: str | None = None
    gateway_url: str | None = None
    gateway_token: str | None = None


class DeviceStatus(Body):
    schema_name = "Status"
    status_code: int
    title: str
    description: str

    @property
    def failed(self) -> bool:
        return self.status_code in (5, 6)


class DeviceInfo(Body):
    schema_name = "Info"
    device_id: str
    mac: str
    firmware_version: str
    capabilities: list[str]
    paired: bool
    model: str | None = None
    uptime_s: int | None = None
    mqtt_host: str | None = None
    mqtt_port: int | None = None


class WifiNetwork(Body):
    schema_name = "WifiNetwork"
    ssid: str
    rssi: int
    sec: int
    ch: int
    mdr: int


# Sharing and ownership transfer


class ShareCreate(Body):
    schema_name = "ShareCreate"
    email: str
    role: str


class ShareUpdate(Body):
    schema_name = "ShareUpdate"
    role: str


class ShareRead(Body):
    schema_name = "ShareRead"
    id: UUID
    device_id: UUID
    email: str
    role: str
    status: str
    created_at: datetime
    expires_at: datetime | None = None


class ShareList(Body):
    schema_name = "ShareList"
    items: list[ShareRead]
    max_users: int


class IncomingShareRead(Body):
    schema_name = "IncomingShareRead"
    id: UUID
    kind: str
    device_id: UUID
    device_name: str
    owner_email: str
    role: str
    expires_at: datetime


class IncomingShareList(Body):
    schema_name = "IncomingShareList"
    items: list[IncomingShareRead]


class TransferCreate(Body):
    schema_name = "TransferCreate"
    email: str


class TransferRead(Body):
    schema_name = "TransferRead"
    id: UUID
    device_id: UUID
    expires_at: datetime


class TransferAccept(Body):
    schema_name = "TransferAccept"
    keep_shares: bool = False


class TransferAccepted(Body):
    schema_name = "TransferAccepted"
    device: DeviceRead
    credentials: DeviceCredentialsRead
