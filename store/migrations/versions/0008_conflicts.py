"""conflicts: the queue of open conflicts, each resolvable once

Revision ID: 0008
Revises: 0007

A live write that would overwrite a change somebody made on the platform is not made; the
propagation target is ``conflict`` and a row here is opened for it (one open row per object and
platform: a later conflict of the same pair updates it). ``seq`` orders the queue for cursor
pagination. A resolution records who, how and when; a later change that brings the platform in line
closes the row as ``stale``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conflicts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("canonical_id", sa.String(length=32), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.Text(), nullable=True),
        sa.Column("propagation_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("canonical_values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("platform_values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("platform_record", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("resolution", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status in ('open','resolved','stale')", name=op.f("ck_conflicts_status")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_conflicts_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflicts")),
    )
    op.create_index("ix_conflicts_queue", "conflicts", ["customer_id", "seq"])
    op.create_index(
        "uq_conflicts_open",
        "conflicts",
        ["customer_id", "canonical_id", "platform"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_conflicts_open", table_name="conflicts")
    op.drop_index("ix_conflicts_queue", table_name="conflicts")
    op.drop_table("conflicts")
