"""Seed 004's bodies, snake_case as the firmware sends and reads them (the rest of petit is camelCase)."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from petit.lib.clock import as_utc


class SnakeModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: The deployment's bound is PETIT_PROVISIONING__TOKEN_MAX_LIFETIME_MIN; the document states its default.
DEFAULT_TOKEN_MAX_LIFETIME_MIN = 7 * 24 * 60


class ProvisioningTokenCreate(SnakeModel):
    model_config = ConfigDict(
        extra="forbid",
        # A lifetime and never_expires together contradict each other (refused with 422 by the service).
        json_schema_extra={
            "not": {
                "required": ["never_expires", "lifetime_minutes"],
                "properties": {"never_expires": {"const": True}, "lifetime_minutes": {"type": "integer"}},
            }
        },
    )

    notes: str | None = Field(default=None, max_length=500)
    lifetime_minutes: int | None = Field(
        default=None,
        ge=1,
        json_schema_extra={"maximum": DEFAULT_TOKEN_MAX_LIFETIME_MIN},
        description=f"Minutes until the token expires; default 30, at most {DEFAULT_TOKEN_MAX_LIFETIME_MIN}",
    )
    never_expires: StrictBool = Field(
        default=False,
        description="A token without expiry: only when asked for explicitly (seed 004's default)",
    )


class ProvisioningTokenIssued(SnakeModel):
    token: str = Field(description="Shown once; give it to the device")
    expires_at: datetime | None
    device_id: uuid.UUID


class ProvisioningClaimRequest(SnakeModel):
    token: str = Field(min_length=1, max_length=256)
    device_metadata: dict[str, Any] = Field(default_factory=dict)


class ProvisioningClaimResult(SnakeModel):
    device_id: uuid.UUID
    api_key: str = Field(
        description="Bearer key for POST /gateway/device-data/ingest; replaces any earlier key"
    )
    ingest_url: str
    token_expires_at: datetime | None = Field(description="When api_key expires; null: until the next claim")
    access_token: str = Field(
        description="The device's new MQTT access token; the previous one no longer works"
    )
    mqtt_host: str
    mqtt_port: int


class IngestAccepted(SnakeModel):
    status: Literal["ok"] = "ok"


class GatewayLatestTelemetry(SnakeModel):
    device_id: uuid.UUID
    payload: dict[str, Any] = Field(description="Latest value of every key the device reported")
    timestamp: datetime | None = Field(description="Time of the newest value; null when nothing was reported")


class ProvisioningClaimRead(SnakeModel):
    token_id: uuid.UUID
    notes: str | None
    issued_at: datetime
    claimed_at: datetime
    claim_ip: str | None
    device_metadata: dict[str, Any] | None

    @field_validator("issued_at", "claimed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class ProvisioningClaimList(SnakeModel):
    device_id: uuid.UUID
    items: list[ProvisioningClaimRead]
