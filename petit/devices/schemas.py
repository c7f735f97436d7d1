import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from petit.devices.roles import Role
from petit.lib.clock import as_utc
from petit.lib.schema import CamelModel
from petit.lib.text import trimmed_text

NAME_MAX_LENGTH = 64
LABEL_MAX_LENGTH = 128
#: Bound on the app's free-form metadata, as serialized JSON: it is display data, not a document store.
METADATA_MAX_BYTES = 4096


# Control characters and line breaks in a name end up in logs and in ThingsBoard's UI: refused. Surrounding
# whitespace is trimmed. One regular expression states the whole rule, length included, so the OpenAPI doc
# says exactly what is accepted (a client or a fuzzer that follows it is never refused).
NAME_PATTERN = trimmed_text(1, NAME_MAX_LENGTH)
LABEL_PATTERN = trimmed_text(0, LABEL_MAX_LENGTH)


def _trimmed(pattern: str, what: str) -> Callable[[object], object]:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if not isinstance(value, str):
            return value  # the type check that follows reports it
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {what} printable characters (no control characters or line breaks)")
        return value.strip()

    return check


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
        raise ValueError(f"must be at most {METADATA_MAX_BYTES} bytes as JSON")
    return value


DeviceName = Annotated[
    str,
    BeforeValidator(_trimmed(NAME_PATTERN, f"1-{NAME_MAX_LENGTH}")),
    # Examples in json_schema_extra: see petit.auth.schemas.Email (a shared alias's examples list grows).
    Field(json_schema_extra={"pattern": NAME_PATTERN, "examples": ["Kitchen lamp"]}),
]
DeviceLabel = Annotated[
    str,
    BeforeValidator(_trimmed(LABEL_PATTERN, f"at most {LABEL_MAX_LENGTH}")),
    Field(json_schema_extra={"pattern": LABEL_PATTERN, "examples": ["left of the window"]}),
]
# Optional forms: Litestar drops a union member's own schema extras, so the pattern is stated on the field
# (JSON Schema applies ``pattern`` to strings only; null stays allowed).
OptionalDeviceName = Annotated[DeviceName | None, Field(json_schema_extra={"pattern": NAME_PATTERN})]
OptionalDeviceLabel = Annotated[DeviceLabel | None, Field(json_schema_extra={"pattern": LABEL_PATTERN})]
DeviceMetadata = Annotated[
    dict[str, Any],
    Field(description=f"Free-form app data (at most {METADATA_MAX_BYTES} bytes as JSON)"),
    AfterValidator(_bounded_metadata),
]


class DeviceCreate(CamelModel):
    name: DeviceName = Field(description="Unique among your devices; 1-64 printable characters, trimmed")
    label: OptionalDeviceLabel = None
    metadata: DeviceMetadata = Field(default_factory=dict)


class DeviceUpdate(CamelModel):
    """Only the fields present change; ``label: null`` clears the label."""

    name: OptionalDeviceName = None
    label: OptionalDeviceLabel = None
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
