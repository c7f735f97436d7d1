import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from petit.lib.clock import as_utc
from petit.lib.schema import CamelModel


class DeviceEventRead(CamelModel):
    """One attempt on the device: who, what, when, from where, and how it ended. Never holds a secret."""

    id: uuid.UUID
    occurred_at: datetime
    flow: str = Field(description="pairing | claim | provisioning | ownership")
    action: str = Field(description="What was tried within the flow (start, complete, claim, release...)")
    outcome: str = Field(description="succeeded | failed | refused | throttled | expired")
    reason: str | None = Field(description="Why it did not succeed, machine-readable")
    actor_user_id: uuid.UUID | None = Field(
        description="The petit user who tried; null for the device itself"
    )
    client_ip: str | None
    details: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class DeviceEventPage(CamelModel):
    items: list[DeviceEventRead] = Field(description="Newest first")
    total: int
    limit: int
    offset: int
