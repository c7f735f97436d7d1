import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class ShareRole(enum.StrEnum):
    """What a user other than the owner may do with a device (the owner's own role is implicit)."""

    #: Telemetry, live stream, commands and settings; never credentials, delete, share or transfer.
    MEMBER = "member"
    #: Telemetry and live stream only.
    VIEWER = "viewer"


class ShareState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


class DeviceShare(SQLModel, table=True):
    """An invitation to a device, addressed by e-mail, and once accepted the invitee's role on it.

    Addressed by e-mail rather than user id so that an invitation can wait for an account that does not
    exist yet; ``user_id`` is set when the invitee accepts. Declined, revoked and expired invitations are
    deleted (the device events keep their history), so one e-mail holds at most one row per device.
    """

    __tablename__ = "device_shares"
    __table_args__ = (
        sa.UniqueConstraint("device_id", "invitee_email", name="uq_device_shares_device_id_invitee_email"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    device_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    #: Normalized like ``users.email``.
    invitee_email: str = Field(sa_type=sa.String(320), nullable=False, index=True)
    user_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
        ),
    )
    role: str = Field(sa_type=sa.String(16), nullable=False)
    state: str = Field(sa_type=sa.String(16), nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    #: When a pending invitation lapses; kept after acceptance for the record, then meaningless.
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class DeviceTransfer(SQLModel, table=True):
    """The owner's open offer to hand a device to someone else; at most one per device.

    ``to_email`` need not belong to an account: the offer is stored and answered the same either way, so the
    owner cannot learn from it which e-mails are registered.
    """

    __tablename__ = "device_transfers"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    device_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    from_user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    to_email: str = Field(sa_type=sa.String(320), nullable=False, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
