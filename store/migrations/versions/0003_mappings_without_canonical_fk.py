"""entity_mappings without the per-row foreign key to canonical_objects

Revision ID: 0003
Revises: 0002

Reconciliation writes one mapping row per seeded record (221,500 for a 100k-payment customer). The
foreign key to canonical_objects checked each one with a `SELECT ... FOR KEY SHARE` of a different
canonical object: a row lock written into every canonical page (WAL and full-page images), which
alone doubled the cost of writing the mappings. Its two guarantees are kept by the only code that
writes mappings or deletes canonical objects (store/connect.py), set-based:

* a mapping names an existing object: reconciliation maps records to objects it inserts in the
  same transaction or to objects the other platform's active mappings name;
* no mapping outlives its object: canonical objects are only deleted as orphans (no mapping names
  them) at activation, and reconciliation and activation of one customer are serialised by a
  transaction-level advisory lock, so an orphan delete never races a link being written.

Tenant isolation is unchanged: `fk_entity_mappings_customer` still cascades a customer's deletion.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("fk_entity_mappings_canonical", "entity_mappings", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(
        "fk_entity_mappings_canonical",
        "entity_mappings",
        "canonical_objects",
        ["customer_id", "canonical_id"],
        ["customer_id", "id"],
        ondelete="CASCADE",
    )
