import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from petit.devices.roles import Role
from petit.lib.clock import as_utc
from petit.lib.schema import CamelModel

NAME_MAX_LENGTH = 64
LABEL_MAX_LENGTH = 128
#: Bound on the app's free-form metadata, as serialized JSON: it is display data, not a document store.
METADATA_MAX_BYTES = 4096


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _printable(value: str) -> str:
    # Control characters and line breaks in a name end up in logs and in ThingsBoard's UI; refuse them.
    if not value.isprintable():
        raise ValueError("must contain printable characters only")
    return value


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
        raise ValueError(f"must be at most {METADATA_MAX_BYTES} bytes as JSON")
    return value


DeviceName = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=NAME_MAX_LENGTH, examples=["Kitchen lamp"]),
    AfterValidator(_printable),
]
DeviceLabel = Annotated[
    str,
    BeforeValidator(_strip),
    Field(max_length=LABEL_MAX_LENGTH, examples=["left of the window"]),
    AfterValidator(_printable),
]
DeviceMetadata = Annotated[
    dict[str, Any],
    Field(description=f"Free-form app data (at most {METADATA_MAX_BYTES} bytes as JSON)"),
    AfterValidator(_bounded_metadata),
]


class DeviceCreate(CamelModel):
    name: DeviceName = Field(description="Unique among your devices; 1-64 printable characters, trimmed")
    label: DeviceLabel | None = None
    metadata: DeviceMetadata = Field(default_factory=dict)


class DeviceUpdate(CamelModel):
    """Only the fields present change; ``label: null`` clears the label."""

    name: DeviceName | None = None
    label: DeviceLabel | None = None
    metadata: DeviceMetadata | None = None


class DeviceRead(CamelModel):
    id: uuid.UUID
    name: str
    label: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    role: Role = Field(
        default=Role.OWNER,
        description="Your role: owner (everything), member (telemetry, live stream, commands, settings) "
        "or viewer (telemetry and live stream)",
    )
    owned_by: str | None = Field(
        default=None, description="The owner's e-mail when the device is shared with you; null for your own"
    )

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class DevicePage(CamelModel):
    items: list[DeviceRead]
    total: int = Field(description="How many devices you own or share in all")
    limit: int
    offset: int


class DeviceCredentialsRead(CamelModel):
    """What the physical device needs to connect: it logs in to MQTT with the access token as username."""

    device_id: uuid.UUID
    access_token: str
    mqtt_host: str
    mqtt_port: int
