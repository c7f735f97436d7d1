"""device_events: the audit trail of every ownership attempt

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("platform_device_id", sa.Uuid(), nullable=True),
        sa.Column("device_ref", sa.String(length=128), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_device_events_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_events")),
    )
    op.create_index(op.f("ix_device_events_actor_user_id"), "device_events", ["actor_user_id"], unique=False)
    op.create_index(
        "ix_device_events_platform_device_id_occurred_at",
        "device_events",
        ["platform_device_id", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_device_events_platform_device_id_occurred_at", table_name="device_events")
    op.drop_index(op.f("ix_device_events_actor_user_id"), table_name="device_events")
    op.drop_table("device_events")
