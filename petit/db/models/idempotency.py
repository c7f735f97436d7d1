import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from petit.db.types import UTCDateTime


class IdempotencyRecord(SQLModel, table=True):
    """A create request made with an ``Idempotency-Key``: a replay with the same body gets the stored
    response, one with a different body is refused. Keys are per user, so users cannot collide."""

    __tablename__ = "idempotency_records"

    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    #: What the key guards (``CreateDevice``), so one key may be reused across different operations.
    operation: str = Field(sa_type=sa.String(64), primary_key=True)
    key: str = Field(sa_type=sa.String(255), primary_key=True)
    #: SHA-256 hex of the canonical request body.
    request_hash: str = Field(sa_type=sa.String(64), nullable=False)
    status_code: int = Field(nullable=False)
    response: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    #: Past this the key may be used again; rows are purged lazily on the next use and by reconcile.
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)
