"""pending_creates: records created on a platform after the connect, still to reach the others

Revision ID: 0006
Revises: 0005

A delta pass registers each new platform record as a canonical object (or links it to the same
record on another platform) and leaves a row here in the same transaction; the CreateWorkflow that
links or creates it on the other platforms deletes the row when it has an outcome for each. A pass
that crashed between the two finds the row again, so no registered record is left unsynced.
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
        "pending_creates",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("canonical_id", sa.String(length=32), nullable=False),
        sa.Column("source_platform", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_pending_creates_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "canonical_id", name=op.f("pk_pending_creates")),
    )
    op.create_index("ix_pending_creates_source", "pending_creates", ["customer_id", "source_platform", "entity_type"])


def downgrade() -> None:
    op.drop_index("ix_pending_creates_source", table_name="pending_creates")
    op.drop_table("pending_creates")
