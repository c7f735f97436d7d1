"""device_intents: what petit is about to do to ThingsBoard, so an interrupted step is undone

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_intents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform_name", sa.String(length=128), nullable=False),
        sa.Column("platform_device_id", sa.Uuid(), nullable=True),
        sa.Column("row_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_intents")),
    )
    op.create_index(op.f("ix_device_intents_created_at"), "device_intents", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_device_intents_platform_name"), "device_intents", ["platform_name"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_device_intents_platform_name"), table_name="device_intents")
    op.drop_index(op.f("ix_device_intents_created_at"), table_name="device_intents")
    op.drop_table("device_intents")
