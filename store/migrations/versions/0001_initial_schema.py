"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 23:20:20.686152
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


RATE_LIMIT_FUNCTION = """
CREATE OR REPLACE FUNCTION rate_limit_hit(p_bucket text, p_limit int, p_window_seconds int)
RETURNS TABLE(allowed boolean, retry_after double precision, remaining int)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_window interval := make_interval(secs => p_window_seconds);
    v_count int;
    v_oldest timestamptz;
BEGIN
    -- Serialise callers of one bucket (every API process shares this log) for this transaction.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_bucket, 0));
    DELETE FROM rate_limit_hits WHERE bucket = p_bucket AND at <= v_now - v_window;
    SELECT count(*), min(at) INTO v_count, v_oldest FROM rate_limit_hits WHERE bucket = p_bucket;
    IF v_count >= p_limit THEN
        RETURN QUERY SELECT false, extract(epoch FROM (v_oldest + v_window - v_now))::float8, 0;
    ELSE
        INSERT INTO rate_limit_hits (bucket, at) VALUES (p_bucket, v_now);
        RETURN QUERY SELECT true, 0::float8, p_limit - v_count - 1;
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.Column("propagate_rate_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("environment in ('demo','test','live')", name=op.f("ck_customers_environment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_table(
        "rate_limit_hits",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hits")),
    )
    op.create_index("ix_rate_limit_hits_bucket_at", "rate_limit_hits", ["bucket", "at"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("mode in ('demo','test','live')", name=op.f("ck_api_keys_mode")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_api_keys_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_customer_id"), "api_keys", ["customer_id"], unique=False)
    op.create_table(
        "canonical_objects",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_canonical_objects_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "id", name=op.f("pk_canonical_objects")),
    )
    op.create_index("ix_canonical_objects_type", "canonical_objects", ["customer_id", "entity_type"], unique=False)
    op.create_table(
        "connections",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), server_default="sandbox", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("seeding_generation", sa.Integer(), nullable=True),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("credentials", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("entity_counts", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("mode in ('sandbox','live')", name=op.f("ck_connections_mode")),
        sa.CheckConstraint("status in ('seeding','active','error')", name=op.f("ck_connections_status")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_connections_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("customer_id", "platform", name="uq_connections_customer_platform"),
    )
    op.create_table(
        "platform_objects",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("canonical_data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("match_key", sa.Text(), nullable=True),
        sa.Column("match_keys", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("remote_updated_at", sa.Text(), nullable=True),
        sa.Column("applied_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_platform_objects_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_objects")),
        sa.UniqueConstraint(
            "customer_id", "platform", "entity_type", "platform_id", "generation", name="uq_platform_objects_identity"
        ),
    )
    op.create_index(
        "ix_platform_objects_match", "platform_objects", ["customer_id", "entity_type", "match_key"], unique=False
    )
    op.create_table(
        "platform_writes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("propagation_id", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.Text(), nullable=False),
        sa.Column("canonical_version", sa.Integer(), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_platform_writes_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_writes")),
        sa.UniqueConstraint("propagation_id", "platform", name="uq_platform_writes_propagation_platform"),
    )
    op.create_index(
        "ix_platform_writes_target", "platform_writes", ["customer_id", "platform", "platform_id"], unique=False
    )
    op.create_table(
        "propagations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("canonical_id", sa.String(length=32), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("source_platform", sa.String(length=16), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("canonical_version", sa.Integer(), nullable=True),
        sa.Column("updated_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("canonical_after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_propagations_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_propagations")),
        sa.UniqueConstraint("customer_id", "idempotency_key", name="uq_propagations_idempotency"),
    )
    op.create_index(
        "ix_propagations_canonical_version",
        "propagations",
        ["customer_id", "canonical_id", "canonical_version"],
        unique=False,
    )
    op.create_index("ix_propagations_customer_created", "propagations", ["customer_id", "created_at"], unique=False)
    op.create_table(
        "reseed_schedules",
        sa.Column("schedule_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_reseed_schedules_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_reseed_schedules")),
    )
    op.create_index(op.f("ix_reseed_schedules_customer_id"), "reseed_schedules", ["customer_id"], unique=False)
    op.create_table(
        "entity_mappings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("canonical_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("origin", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id", "canonical_id"],
            ["canonical_objects.customer_id", "canonical_objects.id"],
            name="fk_entity_mappings_canonical",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_entity_mappings_customer", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_mappings")),
        sa.UniqueConstraint(
            "customer_id", "platform", "entity_type", "platform_id", "generation", name="uq_entity_mappings_platform_id"
        ),
    )
    op.create_index("ix_entity_mappings_canonical", "entity_mappings", ["customer_id", "canonical_id"], unique=False)
    op.create_table(
        "propagation_targets",
        sa.Column("propagation_id", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("conflict_data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status in ('pending','synced','conflict','failed')", name=op.f("ck_propagation_targets_status")
        ),
        sa.ForeignKeyConstraint(
            ["propagation_id"],
            ["propagations.id"],
            name=op.f("fk_propagation_targets_propagation_id_propagations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("propagation_id", "platform", name=op.f("pk_propagation_targets")),
    )
    op.execute(RATE_LIMIT_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS rate_limit_hit(text, int, int)")
    op.drop_table("propagation_targets")
    op.drop_index("ix_entity_mappings_canonical", table_name="entity_mappings")
    op.drop_table("entity_mappings")
    op.drop_index(op.f("ix_reseed_schedules_customer_id"), table_name="reseed_schedules")
    op.drop_table("reseed_schedules")
    op.drop_index("ix_propagations_customer_created", table_name="propagations")
    op.drop_index("ix_propagations_canonical_version", table_name="propagations")
    op.drop_table("propagations")
    op.drop_index("ix_platform_writes_target", table_name="platform_writes")
    op.drop_table("platform_writes")
    op.drop_index("ix_platform_objects_match", table_name="platform_objects")
    op.drop_table("platform_objects")
    op.drop_table("connections")
    op.drop_index("ix_canonical_objects_type", table_name="canonical_objects")
    op.drop_table("canonical_objects")
    op.drop_index(op.f("ix_api_keys_customer_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_rate_limit_hits_bucket_at", table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
    op.drop_table("customers")
