import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class DeviceEvent(SQLModel, table=True):
    """One attempt to change who owns a device (pairing, claim, provisioning, release), successful or not.

    Rows reference the ThingsBoard device id rather than petit's ``devices`` row: many attempts happen before
    that row exists (or after it is gone), and the audit must outlive both. ``details`` never holds a secret.
    """

    __tablename__ = "device_events"
    __table_args__ = (
        sa.Index("ix_device_events_platform_device_id_occurred_at", "platform_device_id", "occurred_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    #: Which flow: ``pairing``, ``claim``, ``provisioning``, ``ownership``...
    flow: str = Field(sa_type=sa.String(32), nullable=False)
    #: What was tried within the flow (``start``, ``complete``, ``claim``, ``release``...).
    action: str = Field(sa_type=sa.String(64), nullable=False)
    #: ``succeeded``, ``failed``, ``refused``, ``throttled``, ``expired``.
    outcome: str = Field(sa_type=sa.String(16), nullable=False)
    #: Machine-readable cause of a non-success (``wrong_secret``, ``owned_by_someone_else``...).
    reason: str | None = Field(default=None, sa_type=sa.String(64), nullable=True)
    # SET NULL: deleting an account must not erase what it did to other people's devices.
    actor_user_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    platform_device_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid, nullable=True)
    #: Name, MAC or other identifier the attempt named, when there was no device id (yet).
    device_ref: str | None = Field(default=None, sa_type=sa.String(128), nullable=True)
    client_ip: str | None = Field(default=None, sa_type=sa.String(64), nullable=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
