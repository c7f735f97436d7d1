import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from petit.auth.schemas import Email
from petit.db.models import ShareRole
from petit.devices.schemas import DeviceCredentialsRead, DeviceRead
from petit.lib.clock import as_utc
from petit.lib.schema import CamelModel

# One description wherever the role appears: the OpenAPI component is shared, and must not depend on which
# schema Litestar happens to meet first.
ROLE_DESCRIPTION = "member: telemetry, live stream, commands, settings; viewer: telemetry and live stream"
ShareStatus = Literal["pending", "accepted", "expired"]


class ShareCreate(CamelModel):
    email: Email = Field(description="Who to invite; they need not have an account yet")
    role: ShareRole = Field(description=ROLE_DESCRIPTION)


class ShareUpdate(CamelModel):
    role: ShareRole = Field(description=ROLE_DESCRIPTION)


class ShareRead(CamelModel):
    id: uuid.UUID
    device_id: uuid.UUID
    email: str
    role: ShareRole = Field(description=ROLE_DESCRIPTION)
    status: ShareStatus = Field(
        description="pending until the invitee accepts; expired once it lapsed unanswered"
    )
    created_at: datetime
    expires_at: datetime | None = Field(description="When a pending invitation lapses; null once accepted")

    @field_validator("created_at", "expires_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None


class ShareList(CamelModel):
    items: list[ShareRead]
    max_users: int = Field(description="How many users (the owner included) a device may have")


class IncomingShareRead(CamelModel):
    """An invitation, or an offer of ownership, addressed to your e-mail."""

    id: uuid.UUID = Field(description="Accept or decline it by this id (AcceptShare or AcceptTransfer)")
    kind: Literal["share", "transfer"]
    device_id: uuid.UUID
    device_name: str
    owner_email: str = Field(description="Who invites you (the device's owner)")
    role: Literal["owner", "member", "viewer"] = Field(description="What you get; owner for a transfer")
    expires_at: datetime

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class IncomingShareList(CamelModel):
    items: list[IncomingShareRead]


class TransferCreate(CamelModel):
    email: Email = Field(
        description="The new owner's e-mail; the answer is the same whether it has an account"
    )


class TransferRead(CamelModel):
    id: uuid.UUID
    device_id: uuid.UUID
    expires_at: datetime = Field(description="The recipient must accept before this")

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class TransferAccept(CamelModel):
    keep_shares: bool = Field(
        default=False,
        description="Keep the users the previous owner shared the device with (default: drop them)",
    )


class TransferAccepted(CamelModel):
    device: DeviceRead
    credentials: DeviceCredentialsRead = Field(
        description="The device's new credentials: the old token stopped working; deliver these to the device"
    )
