"""device_shares and device_transfers: sharing a device with other users, handing it to a new owner

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owned_since", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "device_shares",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("invitee_email", sa.String(length=320), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_shares_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_device_shares_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_shares")),
        sa.UniqueConstraint("device_id", "invitee_email", name="uq_device_shares_device_id_invitee_email"),
    )
    op.create_index(op.f("ix_device_shares_device_id"), "device_shares", ["device_id"], unique=False)
    op.create_index(op.f("ix_device_shares_invitee_email"), "device_shares", ["invitee_email"], unique=False)
    op.create_index(op.f("ix_device_shares_user_id"), "device_shares", ["user_id"], unique=False)
    op.create_table(
        "device_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("from_user_id", sa.Uuid(), nullable=False),
        sa.Column("to_email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_transfers_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["from_user_id"], ["users.id"], name=op.f("fk_device_transfers_from_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_transfers")),
        sa.UniqueConstraint("device_id", name=op.f("uq_device_transfers_device_id")),
    )
    op.create_index(op.f("ix_device_transfers_to_email"), "device_transfers", ["to_email"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_device_transfers_to_email"), table_name="device_transfers")
    op.drop_table("device_transfers")
    op.drop_index(op.f("ix_device_shares_user_id"), table_name="device_shares")
    op.drop_index(op.f("ix_device_shares_invitee_email"), table_name="device_shares")
    op.drop_index(op.f("ix_device_shares_device_id"), table_name="device_shares")
    op.drop_table("device_shares")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("owned_since")
