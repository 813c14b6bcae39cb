"""Database schema.

Every tenant-owned row carries `customer_id` with `ON DELETE CASCADE`, so deleting a customer
(e.g. `DELETE /demo/session`) removes everything it owns in one statement and no query can
forget the tenant filter without it being visible in review.

Seeding uses *generations*: a connect writes platform objects and mappings under
`connections.seeding_generation`, and only when everything is in place flips
`connections.generation` to it. Readers always filter on the active generation, so they never
see a half-seeded platform.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB}


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


CUSTOMER_FK = "customers.id"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    environment: Mapped[str] = mapped_column(String(8), nullable=False)
    # Per-customer override of the /propagate limit (requests per minute); NULL = default.
    propagate_rate_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (CheckConstraint("environment in ('demo','test','live')", name="environment"),)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False, index=True
    )
    # SHA-256 hex of the full key; the plaintext is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # First characters of the key (e.g. "sk_test_AbC1"), so operators can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (CheckConstraint("mode in ('demo','test','live')", name="mode"),)


class Connection(Base):
    __tablename__ = "connections"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False
    )
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False, server_default="sandbox")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # Active generation readers see; 0 = never completed a seed.
    generation: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    seeding_generation: Mapped[int | None] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # Fernet-encrypted platform credentials (live mode); never returned by the API.
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The secret the platform sends back with each notification (live mode): Fernet-encrypted so a
    # missing subscription can be re-created with it, and its SHA-256 for finding the connection.
    webhook_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_hash: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    entity_counts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        UniqueConstraint("customer_id", "platform", name="uq_connections_customer_platform"),
        CheckConstraint("status in ('seeding','active','error')", name="status"),
        CheckConstraint("mode in ('sandbox','live')", name="mode"),
        Index("ix_connections_webhook_secret_hash", "webhook_secret_hash", unique=True),
    )


class CanonicalObject(Base):
    __tablename__ = "canonical_objects"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # Bumped by every effective update; fan-outs carry it so a late write never overwrites newer data.
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    # A tombstone: deleted on a platform or through the API (who: the platform's name, or "api").
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_canonical_objects_type", "customer_id", "entity_type"),)


class PlatformObject(Base):
    __tablename__ = "platform_objects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # No foreign key: its per-row check was a quarter of a seed COPY's cost. The seed checks the
    # customer once per batch and delete_customer deletes these rows (migration 0004 says how).
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    platform_id: Mapped[str] = mapped_column(Text, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # The record's canonical view as mapped at seed time (references already resolved), so
    # activation can (re)write canonical objects with one SQL statement.
    canonical_data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # Normalised business keys, strongest first (reconcile.keys.business_keys). `match_key` is
    # the strongest one: for single-key entity types reconciliation is a SQL join on it.
    match_key: Mapped[str | None] = mapped_column(Text)
    match_keys: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    etag: Mapped[str | None] = mapped_column(Text)
    remote_updated_at: Mapped[str | None] = mapped_column(Text)
    # Canonical version last written to this record by a fan-out: a fan-out of an older version
    # finds it superseded and writes nothing, so late or replayed writes never regress data.
    applied_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        UniqueConstraint(
            "customer_id",
            "platform",
            "entity_type",
            "platform_id",
            "generation",
            name="uq_platform_objects_identity",
        ),
        Index("ix_platform_objects_match", "customer_id", "entity_type", "match_key"),
    )


class EntityMapping(Base):
    __tablename__ = "entity_mappings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    canonical_id: Mapped[str] = mapped_column(String(32), nullable=False)
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    platform_id: Mapped[str] = mapped_column(Text, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    # True when this platform's record created the canonical object (not linked to an existing one):
    # a re-connect of this platform resets the canonical data from it.
    origin: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = _now()

    # No foreign key to canonical_objects: its per-row check cost as much as writing the mappings.
    # store/connect.py keeps `canonical_id` pointing at an existing object (migration 0003 says how).
    __table_args__ = (
        ForeignKeyConstraint(["customer_id"], [CUSTOMER_FK], ondelete="CASCADE", name="fk_entity_mappings_customer"),
        UniqueConstraint(
            "customer_id",
            "platform",
            "entity_type",
            "platform_id",
            "generation",
            name="uq_entity_mappings_platform_id",
        ),
        Index("ix_entity_mappings_canonical", "customer_id", "canonical_id"),
    )


class Propagation(Base):
    __tablename__ = "propagations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False
    )
    canonical_id: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    source_platform: Mapped[str | None] = mapped_column(String(16))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    canonical_version: Mapped[int | None] = mapped_column(Integer)
    updated_fields: Mapped[list[str] | None] = mapped_column(JSONB)
    # The canonical object as this propagation left it (what its fan-outs write).
    canonical_after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key", name="uq_propagations_idempotency"),
        Index("ix_propagations_customer_created", "customer_id", "created_at"),
        Index("ix_propagations_canonical_version", "customer_id", "canonical_id", "canonical_version"),
    )


class PropagationTarget(Base):
    """Per-platform outcome of one propagation (the fan-out ledger)."""

    __tablename__ = "propagation_targets"

    propagation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("propagations.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    platform_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    conflict_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = _now()

    # deleted / kept / refused: a delete's outcome (migration 0007).
    __table_args__ = (
        CheckConstraint("status in ('pending','synced','conflict','failed','deleted','kept','refused')", name="status"),
    )


class PlatformWrite(Base):
    """Write log: one row per effective write of a propagation to a platform record.

    The unique key makes "the same propagation never applies twice to a platform" a database
    invariant, whatever Temporal retries or an operator replays."""

    __tablename__ = "platform_writes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False
    )
    propagation_id: Mapped[str] = mapped_column(String(40), nullable=False)
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    platform_id: Mapped[str] = mapped_column(Text, nullable=False)
    canonical_version: Mapped[int] = mapped_column(Integer, nullable=False)
    fields: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    written_at: Mapped[datetime] = _now()

    __table_args__ = (
        UniqueConstraint("propagation_id", "platform", name="uq_platform_writes_propagation_platform"),
        Index("ix_platform_writes_target", "customer_id", "platform", "platform_id"),
    )


class WebhookDelivery(Base):
    """Deliveries already accepted: platforms retry and duplicate webhooks, we act once."""

    __tablename__ = "webhook_deliveries"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    delivery_key: Mapped[str] = mapped_column(Text, primary_key=True)
    received_at: Mapped[datetime] = _now()
    # The announced change, while the connection's sync is paused (NULL: handed on).
    held: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_webhook_deliveries_held", "customer_id", "platform", postgresql_where=text("held IS NOT NULL")),
    )


class PendingCreate(Base):
    """A record that appeared on one platform after the connect, registered as a canonical object and
    still to be linked or created on the other platforms: the durable hand-over from a delta pass to
    its CreateWorkflow (a pass that crashed after registering finds it here again). Deleted when the
    CreateWorkflow has an outcome for every platform."""

    __tablename__ = "pending_creates"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), primary_key=True
    )
    canonical_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_platform: Mapped[str] = mapped_column(String(16), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_pending_creates_source", "customer_id", "source_platform", "entity_type"),)


class Conflict(Base):
    """An open (or closed) conflict: a live write that would have overwritten a change made on the
    platform, not made. One open row per object and platform (migration 0008)."""

    __tablename__ = "conflicts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False
    )
    canonical_id: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    platform_id: Mapped[str | None] = mapped_column(Text)
    propagation_id: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # The canonical fields on which canonical and the platform differ, and both sides' values.
    fields: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    canonical_values: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    platform_values: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    platform_record: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    opened_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    closed_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status in ('open','resolved','stale')", name="status"),
        Index("ix_conflicts_queue", "customer_id", "seq"),
        Index(
            "uq_conflicts_open",
            "customer_id",
            "canonical_id",
            "platform",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )


class VerifyRun(Base):
    """A drift report of one live connection (migration 0009): counts per entity type."""

    __tablename__ = "verify_runs"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False
    )
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    repair: Mapped[bool] = mapped_column(Boolean, nullable=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_verify_runs_customer", "customer_id", "started_at"),)


class VerifyRecord(Base):
    """A record of a verify run that is not in sync: drifted, known (as when last read) or missing."""

    __tablename__ = "verify_records"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(120), ForeignKey("verify_runs.id", ondelete="CASCADE"), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    canonical_id: Mapped[str] = mapped_column(String(32), nullable=False)
    platform_id: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    platform_modified: Mapped[str | None] = mapped_column(Text)
    repaired: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))

    __table_args__ = (
        CheckConstraint("status in ('drifted','known','missing')", name="status"),
        Index("ix_verify_records_run", "run_id", "entity_type", "seq"),
    )


class RateLimitHit(Base):
    """Sliding-window log shared by every API process (not process memory)."""

    __tablename__ = "rate_limit_hits"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_rate_limit_hits_bucket_at", "bucket", "at"),)


class ReseedSchedule(Base):
    """Temporal schedules owned by a customer, so deleting the customer can delete them too."""

    __tablename__ = "reseed_schedules"

    schedule_id: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False, index=True
    )
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    interval_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = _now()


class EventCounter(Base):
    """Per customer, the last event sequence number handed out. Taking the next one locks the row
    until the transaction ends, so a customer's events commit in sequence order: a reader that has
    seen ``seq`` N never finds an N-1 committed later (the feed's and the deliveries' cursor)."""

    __tablename__ = "event_counters"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Event(Base):
    """Something that happened to a customer's data (migration 0010), written in the transaction of
    the state change it describes; delivered to webhook endpoints and served by GET /events."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    occurred_at: Mapped[datetime] = _now()
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)

    __table_args__ = (
        UniqueConstraint("customer_id", "seq", name="uq_events_customer_seq"),
        Index("ix_events_occurred", "occurred_at"),
    )


class WebhookEndpoint(Base):
    """A caller's URL that receives its events, signed (Standard Webhooks) with its own secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # Empty: every type.
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # Fernet-encrypted signing secrets; the previous one stays valid until previous_expires_at.
    secret: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The customer's last event this endpoint acknowledged (or skipped: not one of its types).
    delivered_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Failed attempts in a row of the event at the head of the queue, and since when it fails.
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_webhook_endpoints_customer", "customer_id", "created_at"),)


class WebhookAttempt(Base):
    """One delivery attempt of one event to one endpoint: GET /webhook-endpoints/{id}/deliveries."""

    __tablename__ = "webhook_attempts"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[str] = mapped_column(String(40), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = _now()
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("outcome in ('delivered','failed')", name="outcome"),
        Index("ix_webhook_attempts_endpoint", "endpoint_id", "seq"),
        Index("ix_webhook_attempts_event", "endpoint_id", "event_id"),
        Index("ix_webhook_attempts_at", "at"),
    )


class WebhookRedelivery(Base):
    """An event an operator or caller asked to deliver again to an endpoint (besides its queue)."""

    __tablename__ = "webhook_redeliveries"

    endpoint_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    event_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    requested_at: Mapped[datetime] = _now()


class WorkerHeartbeat(Base):
    """A running worker process, beating every few seconds (migration 0011): /health tells a live
    worker from one that is gone or hung well before Temporal drops its pollers."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    task_queue: Mapped[str] = mapped_column(Text, nullable=False)
    host: Mapped[str] = mapped_column(Text, nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = _now()
    seen_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_worker_heartbeats_queue", "task_queue", "seen_at"),)
