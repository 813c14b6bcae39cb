"""worker_heartbeats: each running worker process beats every few seconds

Revision ID: 0011
Revises: 0010

Temporal keeps listing a dead worker's pollers for about a minute; a heartbeat older than a few
beats says at once that the worker is gone (or hung), so GET /health reports degraded.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=120), nullable=False),
        sa.Column("task_queue", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_heartbeats")),
    )
    op.create_index("ix_worker_heartbeats_queue", "worker_heartbeats", ["task_queue", "seen_at"])


def downgrade() -> None:
    op.drop_index("ix_worker_heartbeats_queue", table_name="worker_heartbeats")
    op.drop_table("worker_heartbeats")
