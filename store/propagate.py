"""SQL of the propagate path. Helpers never commit; activities and routes own the transactions.

One propagation is a handful of statements: each step reads everything it needs in one statement
(common table expressions) and writes in one. On a small machine PostgreSQL, the worker and the API
share the CPUs, and every statement costs a round trip plus driver work on both sides
(bench/propagate prints the statements of one propagation). The hot path runs on SQLAlchemy Core
connections, not ORM sessions, for the same reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from canonical.entities import REFERENCE_FIELDS
from canonical.jsonio import dumps_text
from models.propagate import FanOutInput, FanOutResult, PropagateInput

# The propagate helpers run on a Core connection (hot path) or on a session (webhook intake, reads).
Executor = AsyncConnection | AsyncSession

ACTIVE_MAPPING = """
    entity_mappings m
    JOIN connections cn ON cn.customer_id = m.customer_id AND cn.platform = m.platform
                       AND cn.generation = m.generation
"""
# A mapping of an active connection with the platform record it maps (`po`, same generation).
ACTIVE_RECORD = f"""{ACTIVE_MAPPING}
    JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                            AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                            AND po.generation = m.generation
"""


def _json(value: Any) -> str:
    return dumps_text(value)


# --- API ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """What POST /propagate learns in its one statement: the rate-limit decision, an earlier
    propagation under the same Idempotency-Key, and the entity (with the source record in platform mode)."""

    allowed: bool
    retry_after: float
    remaining: int
    previous: bool
    previous_hash: str | None
    previous_result: dict[str, Any] | None
    canonical_id: str | None
    entity_type: str | None
    data: dict[str, Any] | None
    native: dict[str, Any] | None


ADMIT = text(
    f"""
    WITH hit AS MATERIALIZED (SELECT allowed, retry_after, remaining FROM rate_limit_hit(:bucket, :limit, :window)),
    previous AS (
        SELECT true AS found, request_hash, result FROM propagations
         WHERE customer_id = :c AND idempotency_key = :k
    ),
    source AS (
        SELECT m.canonical_id, po.data AS native FROM {ACTIVE_RECORD}
         WHERE m.customer_id = :c AND m.platform = :p AND m.platform_id = :pid
         LIMIT 1
    ),
    entity AS (
        SELECT co.id, co.entity_type, co.data FROM canonical_objects co
         WHERE co.customer_id = :c AND co.id = COALESCE(CAST(:cid AS text), (SELECT canonical_id FROM source))
           AND co.deleted_at IS NULL  -- a deleted object takes no more changes
           AND EXISTS (SELECT 1 FROM {ACTIVE_MAPPING} WHERE m.customer_id = co.customer_id AND m.canonical_id = co.id)
    )
    SELECT h.allowed, h.retry_after, h.remaining, COALESCE(pv.found, false),
           pv.request_hash, pv.result, e.id, e.entity_type, e.data, s.native
      FROM hit h
      LEFT JOIN previous pv ON true
      LEFT JOIN entity e ON true
      LEFT JOIN source s ON true
    """
)


async def admit(
    conn: Executor,
    customer_id: uuid.UUID,
    *,
    bucket: str,
    limit: int,
    window_seconds: int,
    idempotency_key: str | None,
    canonical_id: str | None,
    platform: str | None,
    platform_id: str | None,
) -> Admission:
    """Count the request against its rate limit (the hit stays even when the request later fails:
    run it outside a transaction that could roll back) and load what the request needs: in
    canonical mode the entity `canonical_id`, in platform mode the entity mapped to
    (`platform`, `platform_id`) and that native record."""
    row = (
        await conn.execute(
            ADMIT,
            {
                "bucket": bucket,
                "limit": limit,
                "window": window_seconds,
                "c": customer_id,
                "k": idempotency_key,
                "cid": canonical_id,
                "p": platform,
                "pid": platform_id,
            },
        )
    ).one()
    return Admission(*row)


async def load_canonical(session: Executor, customer_id: uuid.UUID, canonical_id: str) -> Any:
    """The canonical object, if it exists for this customer and is mapped to an active platform."""
    return (
        await session.execute(
            text(
                f"""
                SELECT co.id, co.entity_type, co.data, co.version FROM canonical_objects co
                 WHERE co.customer_id = :c AND co.id = :id
                   AND EXISTS (SELECT 1 FROM {ACTIVE_MAPPING}
                                WHERE m.customer_id = co.customer_id AND m.canonical_id = co.id)
                """
            ),
            {"c": customer_id, "id": canonical_id},
        )
    ).first()


async def resolve_platform_record(
    session: Executor, customer_id: uuid.UUID, platform: str, platform_id: str, entity_type: str
) -> Any:
    """The mapping of a native id of an entity type on an active connection, with the stored native
    record (native ids are unique per type only: a Procore project and vendor may share one)."""
    return (
        await session.execute(
            text(
                f"""
                SELECT m.canonical_id, m.entity_type, po.data AS native FROM {ACTIVE_RECORD}
                 WHERE m.customer_id = :c AND m.platform = :p AND m.platform_id = :pid AND m.entity_type = :t
                """
            ),
            {"c": customer_id, "p": platform, "pid": platform_id, "t": entity_type},
        )
    ).first()


# --- step 1: canonical update ----------------------------------------------------------------


@dataclass(frozen=True)
class UpdateState:
    """The canonical update's view: an earlier attempt's outcome (`done_*`, a retry or Reset) or
    the locked canonical object, and the platforms to fan out to with their connection modes."""

    done_version: int | None
    done_fields: list[str] | None
    done_after: dict[str, Any] | None
    data: dict[str, Any] | None
    version: int | None
    targets: list[str]
    modes: list[str]
    ids: list[str] = field(default_factory=list)  # each target's record id there

    @property
    def done(self) -> bool:
        return self.done_version is not None


BEGIN_UPDATE = text(
    f"""
    WITH done AS (
        SELECT canonical_version, updated_fields, canonical_after FROM propagations WHERE id = :pid
    ),
    -- Row lock: concurrent propagations to one entity are applied in one serial order.
    locked AS (
        SELECT data, version FROM canonical_objects
         WHERE customer_id = :c AND id = :cid AND NOT EXISTS (SELECT 1 FROM done)
           FOR UPDATE
    ),
    targets AS (
        SELECT DISTINCT ON (m.platform) m.platform, cn.mode, m.platform_id FROM {ACTIVE_MAPPING}
         WHERE m.customer_id = :c AND m.canonical_id = :cid AND m.platform IS DISTINCT FROM CAST(:x AS text)
         ORDER BY m.platform
    )
    SELECT d.canonical_version, d.updated_fields, d.canonical_after, l.data, l.version,
           COALESCE((SELECT array_agg(platform ORDER BY platform) FROM targets), '{{}}'),
           COALESCE((SELECT array_agg(mode ORDER BY platform) FROM targets), '{{}}'),
           COALESCE((SELECT array_agg(platform_id ORDER BY platform) FROM targets), '{{}}')
      FROM (SELECT 1) one
      LEFT JOIN done d ON true
      LEFT JOIN locked l ON true
    """
)


async def begin_update(
    conn: Executor, propagation_id: str, customer_id: uuid.UUID, canonical_id: str, exclude: str | None
) -> UpdateState:
    """Lock the canonical object unless this propagation was already applied; fan-out targets are
    the active mappings of the entity other than `exclude` (the source platform)."""
    row = (
        await conn.execute(BEGIN_UPDATE, {"pid": propagation_id, "c": customer_id, "cid": canonical_id, "x": exclude})
    ).one()
    return UpdateState(
        row[0], row[1], row[2], row[3], row[4], targets=list(row[5]), modes=list(row[6]), ids=list(row[7])
    )


SAVE_UPDATE = text(
    """
    WITH saved AS (
        UPDATE canonical_objects SET data = CAST(:after AS jsonb), version = :v, updated_at = now()
         WHERE customer_id = :c AND id = :cid AND CAST(:changed AS boolean)
    )
    INSERT INTO propagations (id, customer_id, canonical_id, entity_type, format, source_platform,
                              idempotency_key, request_hash, request, status, canonical_version,
                              updated_fields, canonical_after)
    VALUES (:pid, :c, :cid, :t, :f, :sp, :k, :h, CAST(:req AS jsonb), :s, :v, CAST(:uf AS jsonb),
            CAST(:after AS jsonb))
    """
)


async def save_update(
    conn: Executor,
    params: PropagateInput,
    customer_id: uuid.UUID,
    *,
    version: int,
    updated_fields: list[str],
    canonical_after: dict[str, Any],
) -> None:
    """The propagation's record, and the canonical object's new data and version if it changed."""
    await conn.execute(
        SAVE_UPDATE,
        {
            "pid": params.propagation_id,
            "c": customer_id,
            "cid": params.canonical_id,
            "t": params.entity_type,
            "f": params.format,
            "sp": params.source_platform,
            "k": params.idempotency_key,
            "h": params.request.get("hash"),
            "req": _json(params.request),
            "s": "applied" if updated_fields else "noop",
            "v": version,
            "changed": bool(updated_fields),
            "uf": _json(updated_fields),
            "after": _json(canonical_after),
        },
    )


# --- step 2: source mirror -------------------------------------------------------------------


async def lock_source(conn: Executor, customer_id: uuid.UUID, platform: str, platform_id: str) -> Any:
    return (
        await conn.execute(
            text(
                f"""
                SELECT po.id AS row_id, po.data, po.applied_version FROM {ACTIVE_RECORD}
                 WHERE m.customer_id = :c AND m.platform = :p AND m.platform_id = :pid
                   FOR UPDATE OF po
                """
            ),
            {"c": customer_id, "p": platform, "pid": platform_id},
        )
    ).first()


# --- step 3: fan-out -------------------------------------------------------------------------


@dataclass(frozen=True)
class FanOutState:
    """Everything one fan-out reads, in one statement (see OPEN_FAN_OUT)."""

    outage: bool
    previous_status: str | None
    previous_platform_id: str | None
    previous_data: Any
    row_id: int | None
    platform_id: str | None
    data: dict[str, Any] | None
    applied_version: int | None
    mode: str | None
    snapshot: dict[str, Any] | None
    field_lists: list[list[str]] | None
    references: list[list[str | None]] | None

    @property
    def fields(self) -> set[str]:
        """Canonical fields changed by the propagations of versions (applied_version, version]:
        what this fan-out must bring a record that last saw applied_version up to date on."""
        return {f for fields in self.field_lists or [] for f in fields or []}


# The canonical reference fields (canonical.entities), whose targets a fan-out translates into platform ids.
_REFERENCES = ", ".join(f"s.canonical_after->>'{f}'" for f in REFERENCE_FIELDS)
OPEN_FAN_OUT = text(
    f"""
    WITH outage AS (
        -- Sandbox connections can simulate an outage: settings.sandbox.fail_writes = N fails the
        -- next N write attempts. The countdown is committed even though the attempt then fails.
        UPDATE connections
           SET settings = jsonb_set(settings, '{{sandbox,fail_writes}}',
                                    to_jsonb((settings #>> '{{sandbox,fail_writes}}')::int - 1))
         WHERE customer_id = :c AND platform = :p AND mode = 'sandbox'
           AND COALESCE((settings #>> '{{sandbox,fail_writes}}')::int, 0) > 0
        RETURNING 1
    ),
    previous AS (
        SELECT status, platform_id, data FROM propagation_targets WHERE propagation_id = :pid AND platform = :p
    ),
    -- The target record, locked for this transaction (not needed when the attempt fails anyway or
    -- the platform was already written by this propagation). A lock wait ends with the record's
    -- latest version, so applied_version below is what the previous writer left.
    target AS (
        SELECT po.id, po.platform_id, po.data, po.applied_version, cn.mode FROM {ACTIVE_RECORD}
         WHERE m.customer_id = :c AND m.canonical_id = :cid AND m.platform = :p
           AND NOT EXISTS (SELECT 1 FROM outage)
           AND NOT EXISTS (SELECT 1 FROM previous WHERE status = 'synced')
         ORDER BY po.id LIMIT 1
           FOR UPDATE OF po
    ),
    -- The canonical object as the propagation of `version` left it (noops share a version; the
    -- one that changed something made it).
    snapshot AS (
        SELECT canonical_after FROM propagations
         WHERE customer_id = :c AND canonical_id = :cid AND canonical_version = :v
           AND jsonb_array_length(updated_fields) > 0
         LIMIT 1
    )
    SELECT (SELECT count(*) FROM outage) > 0,
           pv.status, pv.platform_id, pv.data,
           t.id, t.platform_id, t.data, t.applied_version, t.mode,
           s.canonical_after,
           -- every version since the record's was committed before this fan-out was scheduled
           (SELECT jsonb_agg(p.updated_fields) FROM propagations p
             WHERE p.customer_id = :c AND p.canonical_id = :cid
               AND p.canonical_version > t.applied_version AND p.canonical_version <= :v),
           -- the platform ids (and project numbers) of the objects the snapshot refers to
           (SELECT jsonb_agg(jsonb_build_array(
                       m.entity_type, m.canonical_id, m.platform_id,
                       CASE WHEN m.entity_type = :nt THEN po.data->>CAST(:nf AS text) END))
              FROM {ACTIVE_RECORD}
             WHERE m.customer_id = :c AND m.platform = :p AND m.canonical_id = ANY(ARRAY[{_REFERENCES}]))
      FROM (SELECT 1) one
      LEFT JOIN previous pv ON true
      LEFT JOIN target t ON true
      LEFT JOIN snapshot s ON true
    """
)


async def open_fan_out(
    conn: Executor,
    propagation_id: str,
    customer_id: uuid.UUID,
    canonical_id: str,
    platform: str,
    version: int,
    number_field: tuple[str, str | None],
) -> FanOutState:
    """Lock the target record and read what its fan-out needs. `number_field`: the entity type
    referenced by number and the platform's native field holding that number (its ids map also
    links those numbers)."""
    row = (
        await conn.execute(
            OPEN_FAN_OUT,
            {
                "pid": propagation_id,
                "c": customer_id,
                "cid": canonical_id,
                "p": platform,
                "v": version,
                "nt": number_field[0],
                "nf": number_field[1],
            },
        )
    ).one()
    return FanOutState(*row)


# A target's outcome; `data` and `conflict_data` are JSON text (exact decimals, see
# models.propagate.FanOutResult).
_SAVE_TARGET = """
    INSERT INTO propagation_targets (propagation_id, platform, platform_id, status, attempts, data, error,
                                     conflict_data)
    -- a target that failed before the platform answered still names its record there (its mapping)
    VALUES (:pid, :p,
            COALESCE(CAST(:x AS text),
                     (SELECT m.platform_id FROM propagations pr JOIN entity_mappings m
                          ON m.customer_id = pr.customer_id AND m.canonical_id = pr.canonical_id
                         AND m.platform = CAST(:p AS varchar)
                        JOIN connections cn ON cn.customer_id = m.customer_id AND cn.platform = m.platform
                                           AND cn.generation = m.generation
                       WHERE pr.id = CAST(:pid AS varchar) LIMIT 1)),
            :s, 1, CAST(:td AS jsonb), :err, CAST(:cd AS jsonb))
    ON CONFLICT (propagation_id, platform) DO UPDATE
       SET status = EXCLUDED.status, platform_id = EXCLUDED.platform_id, data = EXCLUDED.data,
           error = EXCLUDED.error, conflict_data = EXCLUDED.conflict_data,
           attempts = propagation_targets.attempts + 1, updated_at = now()
     -- a late interim `pending` report never overwrites a final outcome
     WHERE propagation_targets.status = 'pending' OR EXCLUDED.status <> 'pending'
"""
SAVE_TARGET = text(_SAVE_TARGET)
CLOSE_FAN_OUT = text(
    f"""
    WITH written AS (
        UPDATE platform_objects
           SET data = CAST(:d AS jsonb),
               -- only a synced write brings the record to this version; a write the platform took
               -- in part stores what it holds and keeps the record due for the rest
               applied_version = CASE WHEN CAST(:ok AS boolean) THEN GREATEST(applied_version, :v)
                                      ELSE applied_version END,
               etag = COALESCE(CAST(:e AS text), etag),
               remote_updated_at = COALESCE(CAST(:u AS text), remote_updated_at), updated_at = now()
         WHERE id = CAST(:row AS bigint) AND CAST(:d AS jsonb) IS NOT NULL
    ),
    logged AS (
        -- the write log: at most one effective write per propagation and platform
        INSERT INTO platform_writes (customer_id, propagation_id, platform, platform_id, canonical_version, fields)
        SELECT CAST(:c AS uuid), :pid, :p, :x, CAST(:v AS integer), CAST(:f AS jsonb) WHERE CAST(:f AS jsonb) IS NOT NULL
        ON CONFLICT (propagation_id, platform) DO NOTHING
    )
    {_SAVE_TARGET}
    """
)


async def close_fan_out(
    conn: Executor,
    customer_id: uuid.UUID,
    params: FanOutInput,
    result: FanOutResult,
    *,
    write: tuple[int, str] | None = None,
    etag: str | None = None,
    remote_updated_at: str | None = None,
    logged_fields: list[str] | None = None,
) -> None:
    """The fan-out's outcome in one statement: the platform record (`write` = row id and the new
    record as JSON text, its applied_version raised to the propagation's version), the write log
    entry (`logged_fields`, when the platform took an effective write), and the target's outcome."""
    row_id, record = write if write is not None else (None, None)
    await conn.execute(
        CLOSE_FAN_OUT,
        {
            "c": customer_id,
            "pid": params.propagation_id,
            "p": params.platform,
            "x": result.platform_id,
            "v": params.version,
            "ok": result.status == "synced",
            "row": row_id,
            "d": record,
            "e": etag,
            "u": remote_updated_at,
            "f": None if logged_fields is None else _json(logged_fields),
            "s": result.status,
            "td": result.data,
            "err": result.error,
            "cd": result.conflict_data,
        },
    )


async def write_platform_object(conn: Executor, row_id: int, data: dict[str, Any], version: int) -> None:
    await conn.execute(
        text(
            "UPDATE platform_objects SET data = CAST(:d AS jsonb), applied_version = GREATEST(applied_version, :v), "
            "updated_at = now() WHERE id = :id"
        ),
        {"id": row_id, "d": _json(data), "v": version},
    )


# --- the record ------------------------------------------------------------------------------


async def save_target(
    conn: Executor,
    propagation_id: str,
    platform: str,
    *,
    status: str,
    platform_id: str | None,
    data: str | None,
    error: str | None,
    conflict_data: str | None,
) -> None:
    """An outcome the fan-out could not record itself (failed after its attempts, pending)."""
    await conn.execute(
        SAVE_TARGET,
        {
            "pid": propagation_id,
            "p": platform,
            "x": platform_id,
            "s": status,
            "td": data,
            "err": error,
            "cd": conflict_data,
        },
    )


async def finish(conn: Executor, propagation_id: str, status: str, result: dict[str, Any]) -> uuid.UUID | None:
    """Record a pass's outcome; the propagation's customer (None: no such propagation)."""
    row = await conn.execute(
        text(
            "UPDATE propagations SET status = :s, result = CAST(:r AS jsonb), updated_at = now() WHERE id = :id "
            "RETURNING customer_id"
        ),
        {"id": propagation_id, "s": status, "r": _json(result)},
    )
    return row.scalar_one_or_none()


# --- reads -----------------------------------------------------------------------------------


async def get_propagation(session: Executor, customer_id: uuid.UUID, propagation_id: str) -> Any:
    return (
        await session.execute(
            text(
                "SELECT id, canonical_id, entity_type, format, source_platform, status, canonical_version, "
                "updated_fields, result, request, created_at, updated_at FROM propagations "
                "WHERE customer_id = :c AND id = :id"
            ),
            {"c": customer_id, "id": propagation_id},
        )
    ).first()


async def get_targets(session: Executor, propagation_id: str) -> list[Any]:
    rows = await session.execute(
        text(
            "SELECT platform, platform_id, status, attempts, error, conflict_data, updated_at "
            "FROM propagation_targets WHERE propagation_id = :id ORDER BY platform"
        ),
        {"id": propagation_id},
    )
    return list(rows)


async def unsettled_targets(conn: Executor, customer_id: uuid.UUID, canonical_id: str) -> list[str]:
    """The platforms whose last outcome for the object was ``conflict`` or ``failed``: what an
    ``overwrite`` propagation writes even when canonical does not change."""
    rows = await conn.execute(
        text(
            """
            SELECT platform FROM (
                SELECT DISTINCT ON (t.platform) t.platform, t.status
                  FROM propagation_targets t JOIN propagations p ON p.id = t.propagation_id
                 WHERE p.customer_id = :c AND p.canonical_id = :cid AND p.format IN ('canonical', 'platform')
                   AND t.status <> 'pending'
                 ORDER BY t.platform, t.updated_at DESC
            ) last WHERE status IN ('conflict', 'failed')
            """
        ),
        {"c": customer_id, "cid": canonical_id},
    )
    return [str(r[0]) for r in rows]


async def canonical_values_since(
    conn: Executor, customer_id: uuid.UUID, canonical_id: str, after_version: int, up_to_version: int
) -> list[dict[str, Any]]:
    """The canonical object as each propagation left it, for the versions in (after, up to]: what
    fan-outs still outstanding to a record behind canonical are writing to it."""
    rows = await conn.execute(
        text(
            "SELECT canonical_after FROM propagations WHERE customer_id = :c AND canonical_id = :cid "
            "AND canonical_version > :a AND canonical_version <= :b AND canonical_after IS NOT NULL"
        ),
        {"c": customer_id, "cid": canonical_id, "a": after_version, "b": up_to_version},
    )
    return [dict(r[0]) for r in rows]


async def changed_canonical(conn: Executor, propagation_id: str) -> bool:
    """Whether the propagation changed the canonical object (its step 1 was not a no-op)."""
    value = (
        await conn.execute(
            text("SELECT COALESCE(updated_fields, '[]'::jsonb) <> '[]'::jsonb FROM propagations WHERE id = :id"),
            {"id": propagation_id},
        )
    ).scalar_one_or_none()
    return bool(value)


async def record_ignored(conn: Executor, customer_id: uuid.UUID, params: Any, reason: str) -> None:
    """A platform change a one-way direction does not let flow: recorded (GET /propagations/{id}),
    nothing applied."""
    await conn.execute(
        text(
            """
            INSERT INTO propagations (id, customer_id, canonical_id, entity_type, format, source_platform, request,
                                      status, updated_fields, error)
            VALUES (:pid, :c, :cid, :t, 'platform', :sp, CAST(:req AS jsonb), 'ignored', '[]'::jsonb, :e)
            ON CONFLICT (id) DO NOTHING
            """
        ),
        {
            "pid": params.propagation_id,
            "c": customer_id,
            "cid": params.canonical_id,
            "t": params.entity_type,
            "sp": params.source_platform,
            "req": _json({**params.request, "native_patch": params.native_patch}),
            "e": reason,
        },
    )
