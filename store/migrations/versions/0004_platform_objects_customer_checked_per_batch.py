"""platform_objects: the customer is checked once per seed batch, not by a per-row foreign key

Revision ID: 0004
Revises: 0003

A connect writes every record of a platform into platform_objects with COPY (443,000 rows for a
100k-payment customer). The foreign key to customers checked each row with its own
`SELECT ... FOR KEY SHARE` of the same customer row: about a quarter of PostgreSQL's cost of the
COPY. Both of its guarantees are kept, once per batch instead of once per row:

* a row names an existing customer: the only writer that inserts rows, the seed's COPY
  (`store.connect.platform_objects_copy`), first takes the very lock the foreign key took,
  `SELECT 1 FROM customers WHERE id = ... FOR KEY SHARE`, in the same transaction, and refuses
  to write for a customer that is gone (every row of one COPY is that customer's);
* a customer's deletion removes its rows: `store.customers.delete_customer` deletes the customer
  row first (which waits for in-flight seed batches holding the key-share lock, and makes later
  ones find no customer), then the customer's platform_objects, in one transaction.

Other tenant tables keep their cascading foreign keys.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("fk_platform_objects_customer_id_customers", "platform_objects", type_="foreignkey")


def downgrade() -> None:
    op.execute(
        "DELETE FROM platform_objects p WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = p.customer_id)"
    )
    op.create_foreign_key(
        "fk_platform_objects_customer_id_customers",
        "platform_objects",
        "customers",
        ["customer_id"],
        ["id"],
        ondelete="CASCADE",
    )
