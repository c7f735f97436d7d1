import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class Device(SQLModel, table=True):
    """A device a petit user owns (others may hold a share, see ``DeviceShare``). Identity, credentials and
    telemetry live in ThingsBoard (``platform_device_id``); petit keeps who owns it and the metadata the app
    shows."""

    __tablename__ = "devices"
    __table_args__ = (sa.UniqueConstraint("owner_id", "name", name="uq_devices_owner_id_name"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    #: The device's id in ThingsBoard; unique because one platform device backs exactly one row.
    platform_device_id: uuid.UUID = Field(sa_type=sa.Uuid, unique=True, nullable=False)
    name: str = Field(sa_type=sa.String(64), nullable=False)
    label: str | None = Field(default=None, sa_type=sa.String(128), nullable=True)
    #: Free-form app metadata (room, icon, ...); ThingsBoard never sees it.
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    #: When the current owner got it by a transfer; None means since ``created_at``. Bounds what the owner
    #: sees of the device's history: a later owner never sees who handled it before.
    owned_since: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
