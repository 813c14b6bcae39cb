"""connections: a per-connection webhook secret; webhook_deliveries: changes held while sync is paused

Revision ID: 0005
Revises: 0004

The credential a platform sends with its notifications (Procore's destination header, BC's
clientState) is a secret the engine generates per connection, never a customer's API key. It is
kept twice: its SHA-256 (indexed, how a delivery finds its connection) and Fernet-encrypted (so a
missing subscription can be re-created with the same secret, leaving the others valid).

A delivery that arrives while a connection's sync is paused is recorded with the change it
announces in `held`; resuming starts what is held. NULL: already handed on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("connections", sa.Column("webhook_secret", sa.LargeBinary(), nullable=True))
    op.add_column("connections", sa.Column("webhook_secret_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_connections_webhook_secret_hash", "connections", ["webhook_secret_hash"], unique=True)
    op.add_column("webhook_deliveries", sa.Column("held", postgresql.JSONB(), nullable=True))
    op.create_index(
        "ix_webhook_deliveries_held",
        "webhook_deliveries",
        ["customer_id", "platform"],
        postgresql_where=sa.text("held IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_held", table_name="webhook_deliveries")
    op.drop_column("webhook_deliveries", "held")
    op.drop_index("ix_connections_webhook_secret_hash", table_name="connections")
    op.drop_column("connections", "webhook_secret_hash")
    op.drop_column("connections", "webhook_secret")
