"""provisioned_devices, provisioning_tokens, gateway_api_keys: self-provisioning by MAC and seed 004

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provisioned_devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mac", sa.String(length=12), nullable=False),
        sa.Column("platform_device_id", sa.Uuid(), nullable=False),
        sa.Column("device_secret_digest", sa.String(length=64), nullable=False),
        sa.Column("reprovision_armed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provision_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioned_devices")),
        sa.UniqueConstraint("mac", name=op.f("uq_provisioned_devices_mac")),
        sa.UniqueConstraint("platform_device_id", name=op.f("uq_provisioned_devices_platform_device_id")),
    )
    op.create_table(
        "gateway_api_keys",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_gateway_api_keys_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_gateway_api_keys")),
        sa.UniqueConstraint("key_digest", name=op.f("uq_gateway_api_keys_key_digest")),
    )
    op.create_table(
        "provisioning_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.String(length=500), nullable=True),
        sa.Column("issued_by", sa.Uuid(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_ip", sa.String(length=64), nullable=True),
        sa.Column("device_metadata", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_provisioning_tokens_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"],
            ["users.id"],
            name=op.f("fk_provisioning_tokens_issued_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_tokens")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_provisioning_tokens_token_digest")),
    )
    op.create_index(
        "ix_provisioning_tokens_device_id_claimed_at",
        "provisioning_tokens",
        ["device_id", "claimed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_provisioning_tokens_device_id_claimed_at", table_name="provisioning_tokens")
    op.drop_table("provisioning_tokens")
    op.drop_table("gateway_api_keys")
    op.drop_table("provisioned_devices")
