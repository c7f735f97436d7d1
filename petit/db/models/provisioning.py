import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class ProvisionedDevice(SQLModel, table=True):
    """A device that registered itself by MAC (seed 001 "Provisioning"), through petit.

    The MAC is an identifier, not a secret: a second registration of the same MAC is accepted only with the
    device secret issued the first time, or while the owner has armed a re-provision (after a factory reset).
    """

    __tablename__ = "provisioned_devices"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    #: Normalized: 12 upper-case hex digits, no separators; also the device's name in ThingsBoard.
    mac: str = Field(sa_type=sa.String(12), unique=True, nullable=False)
    platform_device_id: uuid.UUID = Field(sa_type=sa.Uuid, unique=True, nullable=False)
    #: Keyed digest of the device secret returned by the last successful provisioning.
    device_secret_digest: str = Field(sa_type=sa.String(64), nullable=False)
    #: Until when the owner allows one registration without the device secret; None: not armed.
    reprovision_armed_until: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    provision_count: int = Field(default=1, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class ProvisioningToken(SQLModel, table=True):
    """A one-time token an owner issues for one of their devices (seed 004); the row of a redeemed token
    is also the record of that claim (``ListProvisioningClaims``)."""

    __tablename__ = "provisioning_tokens"
    __table_args__ = (sa.Index("ix_provisioning_tokens_device_id_claimed_at", "device_id", "claimed_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    device_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False)
    )
    #: Keyed digest of the token; the token itself is shown once and never stored.
    token_digest: str = Field(sa_type=sa.String(64), unique=True, nullable=False)
    notes: str | None = Field(default=None, sa_type=sa.String(500), nullable=True)
    issued_by: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    issued_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    #: None only when the owner asked for a token that never expires.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    claim_ip: str | None = Field(default=None, sa_type=sa.String(64), nullable=True)
    device_metadata: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON, nullable=True)


class GatewayApiKey(SQLModel, table=True):
    """The one live ingest key of a device; a new claim replaces it, so the previous key stops working."""

    __tablename__ = "gateway_api_keys"

    device_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    )
    key_digest: str = Field(sa_type=sa.String(64), unique=True, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
