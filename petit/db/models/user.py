import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    #: Stored normalized (trimmed, lowercased) so the unique constraint is case-insensitive on every database.
    email: str = Field(sa_type=sa.String(320), unique=True, nullable=False)
    password_hash: str = Field(sa_type=sa.String(255), nullable=False)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False)
