import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class RefreshToken(SQLModel, table=True):
    """One issued refresh token. Tokens from one login share a ``family_id``; each use spends one and issues
    the next, so a second use of a spent token exposes a replay and revokes the family."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    family_id: uuid.UUID = Field(sa_type=sa.Uuid, nullable=False, index=True)
    #: SHA-256 hex of the token; the token itself is never stored.
    token_hash: str = Field(sa_type=sa.String(64), unique=True, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)
