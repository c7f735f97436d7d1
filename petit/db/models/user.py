import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class PlatformLinkState(enum.StrEnum):
    """How far the user's ThingsBoard side (customer + customer user) has been set up."""

    #: Not created yet (ThingsBoard was down at signup); completed on next use or by the background linker.
    PENDING = "pending"
    LINKED = "linked"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    #: Stored normalized (trimmed, lowercased) so the unique constraint is case-insensitive on every database.
    email: str = Field(sa_type=sa.String(320), unique=True, nullable=False)
    password_hash: str = Field(sa_type=sa.String(255), nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    #: ThingsBoard customer id (the port's ``owner_id``); both ids are set together, or neither.
    platform_owner_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid, nullable=True)
    #: ThingsBoard customer-user id (the port's ``account_id``).
    platform_account_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid, nullable=True)
    # A plain string column, not a database enum, so adding a state never needs an ALTER TYPE.
    platform_link_state: str = Field(
        default=PlatformLinkState.PENDING,
        sa_column=sa.Column(sa.String(16), nullable=False, server_default=PlatformLinkState.PENDING.value),
    )
