import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class PairingState(enum.StrEnum):
    PENDING = "pending"
    #: The reserved device has connected to the broker but not yet sent the right pair key.
    DEVICE_CONNECTED = "device_connected"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: States a pairing can still leave; the watcher only looks at these.
OPEN_PAIRING_STATES = (PairingState.PENDING.value, PairingState.DEVICE_CONNECTED.value)


class Pairing(SQLModel, table=True):
    """An app-assisted pairing (seed 001 v2): a ThingsBoard device reserved for ``user_id`` that becomes
    theirs when the physical device connects with its access token and sends the pair key."""

    __tablename__ = "pairings"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    platform_device_id: uuid.UUID = Field(sa_type=sa.Uuid, unique=True, nullable=False)
    #: The ``devices`` row id the pairing creates on completion (chosen up front so retries converge).
    device_id: uuid.UUID = Field(sa_type=sa.Uuid, nullable=False)
    name: str = Field(sa_type=sa.String(64), nullable=False)
    label: str | None = Field(default=None, sa_type=sa.String(128), nullable=True)
    #: HMAC digests; the keys themselves only ever travel to the app and the device.
    pair_key_hash: str = Field(sa_type=sa.String(64), nullable=False)
    owner_key_hash: str = Field(sa_type=sa.String(64), nullable=False)
    # A plain string column, not a database enum, so adding a state never needs an ALTER TYPE.
    state: str = Field(default=PairingState.PENDING, sa_type=sa.String(20), nullable=False, index=True)
    failure_reason: str | None = Field(default=None, sa_type=sa.String(64), nullable=True)
    client_ip: str | None = Field(default=None, sa_type=sa.String(64), nullable=True)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    connected_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
