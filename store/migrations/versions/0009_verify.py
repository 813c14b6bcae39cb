"""verify: drift reports (every mapped record of a live connection compared with canonical)

Revision ID: 0009
Revises: 0008

A run (``verify_runs``) has counts per entity type; ``verify_records`` holds the records that are not
in sync: ``drifted`` (the platform changed since the engine last read it, and differs from
canonical), ``known`` (differs from canonical as it did when last read: a difference the platforms
had at connect, such as a name each spells its own way) or ``missing`` (gone from the platform).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "verify_runs",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("repair", sa.Boolean(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_verify_runs_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_runs")),
    )
    op.create_index("ix_verify_runs_customer", "verify_runs", ["customer_id", "started_at"])
    op.create_table(
        "verify_records",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.String(length=120), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("canonical_id", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("platform_modified", sa.Text(), nullable=True),
        sa.Column("repaired", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("status in ('drifted','known','missing')", name=op.f("ck_verify_records_status")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["verify_runs.id"], name=op.f("fk_verify_records_run_id_verify_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_verify_records")),
    )
    op.create_index("ix_verify_records_run", "verify_records", ["run_id", "entity_type", "seq"])


def downgrade() -> None:
    op.drop_index("ix_verify_records_run", table_name="verify_records")
    op.drop_table("verify_records")
    op.drop_index("ix_verify_runs_customer", table_name="verify_runs")
    op.drop_table("verify_runs")
