"""deletes: canonical tombstones and the outcomes a delete has per platform

Revision ID: 0007
Revises: 0006

A canonical object deleted on a platform or through the API is kept as a tombstone (when, and by
whom: a platform or the API), so its history and mappings stay and a late notification about it is
recognised. A delete's per-platform outcome is ``deleted`` (gone there, or gone already), ``kept``
(the connection's delete policy is ``tombstone_only``) or ``refused`` (the platform would not delete
it: a posted document, a record in use), beside the fan-out's ``pending|synced|conflict|failed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "status in ('pending','synced','conflict','failed')"
NEW = "status in ('pending','synced','conflict','failed','deleted','kept','refused')"


def upgrade() -> None:
    op.add_column("canonical_objects", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("canonical_objects", sa.Column("deleted_by", sa.Text(), nullable=True))
    op.drop_constraint(op.f("ck_propagation_targets_status"), "propagation_targets", type_="check")
    op.create_check_constraint(op.f("ck_propagation_targets_status"), "propagation_targets", NEW)


def downgrade() -> None:
    op.execute("DELETE FROM propagation_targets WHERE status IN ('deleted', 'kept', 'refused')")
    op.drop_constraint(op.f("ck_propagation_targets_status"), "propagation_targets", type_="check")
    op.create_check_constraint(op.f("ck_propagation_targets_status"), "propagation_targets", OLD)
    op.drop_column("canonical_objects", "deleted_by")
    op.drop_column("canonical_objects", "deleted_at")
