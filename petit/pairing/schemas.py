import uuid
from datetime import datetime

from pydantic import Field, field_validator

from petit.devices.schemas import DeviceName, OptionalDeviceLabel
from petit.lib.clock import as_utc
from petit.lib.schema import CamelModel


class PairingCreate(CamelModel):
    name: DeviceName = Field(description="The name the device gets once paired; unique among your devices")
    label: OptionalDeviceLabel = None


class PairingStarted(CamelModel):
    """What the app sends to the device's local API (``POST /config/data``), see porto_contract/device."""

    pairing_id: uuid.UUID
    pair_key: str = Field(description="One-time key the device publishes as client attribute `pairKey`")
    owner_key: str = Field(description="Kept by the device; guards its local API (header X-Owner-Key)")
    access_token: str = Field(description="The device's MQTT username")
    mqtt_host: str
    mqtt_port: int
    expires_at: datetime
    state: str


class PairingRead(CamelModel):
    id: uuid.UUID
    name: str
    state: str = Field(description="pending | device_connected | completed | expired | failed | cancelled")
    failure_reason: str | None = Field(description="Why the pairing failed, machine-readable")
    device_id: uuid.UUID | None = Field(description="The paired device, once completed")
    created_at: datetime
    expires_at: datetime
    connected_at: datetime | None
    finished_at: datetime | None

    @field_validator("created_at", "expires_at", "connected_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


class ClaimCodeCreated(CamelModel):
    claim_code: str = Field(
        description="Give it to the device, which sends it as `secretKey` on `v1/devices/me/claim`;"
        " single-use"
    )
    expires_at: datetime


class ClaimRequest(CamelModel):
    device_name: str = Field(min_length=1, max_length=255, description="The device's name on the platform")
    claim_code: str = Field(min_length=4, max_length=64)
