import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class ClaimCode(SQLModel, table=True):
    """A short claim code (seed 000) a user hands to a pre-provisioned device, which sends it to ThingsBoard
    as its claim secret; the user then claims the device with it. Single-use; whoever holds it may use it."""

    __tablename__ = "claim_codes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    #: HMAC digest of the normalized code.
    code_hash: str = Field(sa_type=sa.String(64), unique=True, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    #: The device it was spent on, for the audit trail.
    platform_device_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid, nullable=True)
