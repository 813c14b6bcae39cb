"""SQL of the conflict queue: opened by a propagation's outcome, closed by a resolution or by a later
change that settles the platform (stale), listed with cursor pagination."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import text

from canonical.jsonio import dumps_text
from store.propagate import ACTIVE_RECORD, Executor


def conflict_id(propagation_id: str, platform: str) -> str:
    """Deterministic per propagation and platform: a retried outcome opens the same conflict."""
    return "cfl_" + hashlib.sha256(f"{propagation_id}|{platform}".encode()).hexdigest()[:24]


_OPEN = text(
    """
    INSERT INTO conflicts (id, customer_id, canonical_id, entity_type, platform, platform_id, propagation_id,
                           status, fields, canonical_values, platform_values, platform_record)
    SELECT CAST(:id AS varchar), p.customer_id, p.canonical_id, p.entity_type, :pl, :x, p.id, 'open', CAST(:f AS jsonb),
           COALESCE(p.canonical_after, '{}'::jsonb), CAST(:pv AS jsonb), CAST(:rec AS jsonb)
      FROM propagations p
     -- a later pass of the same propagation re-reports this outcome: never reopened, never twice
     WHERE p.id = :pid AND NOT EXISTS (SELECT 1 FROM conflicts WHERE id = CAST(:id AS varchar))
    ON CONFLICT (customer_id, canonical_id, platform) WHERE status = 'open' DO UPDATE
       SET propagation_id = EXCLUDED.propagation_id, platform_id = EXCLUDED.platform_id,
           fields = EXCLUDED.fields, canonical_values = EXCLUDED.canonical_values,
           platform_values = EXCLUDED.platform_values, platform_record = EXCLUDED.platform_record,
           updated_at = now()
    RETURNING id
    """
)


async def open_conflict(
    conn: Executor,
    propagation_id: str,
    platform: str,
    *,
    platform_id: str | None,
    fields: list[str],
    platform_values: dict[str, Any],
    platform_record: str | None,
) -> str | None:
    """Open (or refresh: one open conflict per object and platform) the conflict of a propagation's
    target. Canonical's values are the propagation's ``canonical_after``. The conflict's id (None:
    this propagation's conflict on the platform was opened before)."""
    row = await conn.execute(
        _OPEN,
        {
            "id": conflict_id(propagation_id, platform),
            "pid": propagation_id,
            "pl": platform,
            "x": platform_id,
            "f": dumps_text(fields),
            "pv": dumps_text(platform_values),
            "rec": platform_record,
        },
    )
    found = row.scalar_one_or_none()
    return None if found is None else str(found)


async def close_stale(conn: Executor, propagation_id: str, platforms: list[str]) -> None:
    """Open conflicts of the propagation's object on ``platforms`` (now synced, or the source of this
    change) are stale: a later change settled them."""
    await conn.execute(
        text(
            """
            UPDATE conflicts c
               SET status = 'stale', updated_at = now(),
                   closed_reason = 'superseded by ' || p.id || ' (a later change settled this platform)'
              FROM propagations p
             WHERE p.id = :pid AND c.customer_id = p.customer_id AND c.canonical_id = p.canonical_id
               AND c.status = 'open' AND c.propagation_id <> p.id
               AND (c.platform = ANY(:platforms)
                    OR (c.platform = p.source_platform AND COALESCE(p.updated_fields, '[]'::jsonb) <> '[]'::jsonb))
            """
        ),
        {"pid": propagation_id, "platforms": platforms},
    )


_COLUMNS = """c.id, c.seq, c.canonical_id, c.entity_type, c.platform, c.platform_id, c.propagation_id, c.status,
              c.fields, c.canonical_values, c.platform_values, c.opened_at, c.updated_at, c.resolved_at,
              c.resolved_by, c.resolution, c.closed_reason"""


async def list_conflicts(
    conn: Executor,
    customer_id: uuid.UUID,
    *,
    platform: str | None,
    entity_type: str | None,
    status: str | None,
    after: int,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            f"""
            SELECT {_COLUMNS} FROM conflicts c
             WHERE c.customer_id = :c AND c.seq > :after
               AND (CAST(:p AS text) IS NULL OR c.platform = :p)
               AND (CAST(:t AS text) IS NULL OR c.entity_type = :t)
               AND (CAST(:s AS text) IS NULL OR c.status = :s)
             ORDER BY c.seq LIMIT :limit
            """
        ),
        {"c": customer_id, "after": after, "p": platform, "t": entity_type, "s": status, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def get_conflict(conn: Executor, customer_id: uuid.UUID, conflict: str) -> dict[str, Any] | None:
    """The conflict with canonical's values now and the platform record as last read (``now``)."""
    row = (
        await conn.execute(
            text(
                f"""
                SELECT {_COLUMNS}, c.platform_record, co.data AS canonical_now, co.deleted_at AS canonical_deleted_at,
                       (SELECT po.data FROM {ACTIVE_RECORD}
                         WHERE m.customer_id = c.customer_id AND m.canonical_id = c.canonical_id
                           AND m.platform = c.platform LIMIT 1) AS platform_record_now,
                       (SELECT po.updated_at FROM {ACTIVE_RECORD}
                         WHERE m.customer_id = c.customer_id AND m.canonical_id = c.canonical_id
                           AND m.platform = c.platform LIMIT 1) AS platform_read_at
                  FROM conflicts c
                  LEFT JOIN canonical_objects co ON co.customer_id = c.customer_id AND co.id = c.canonical_id
                 WHERE c.customer_id = :c AND c.id = :id
                """
            ),
            {"c": customer_id, "id": conflict},
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


async def resolve(
    conn: Executor, customer_id: uuid.UUID, conflict: str, *, by: str, resolution: dict[str, Any]
) -> bool:
    """Mark an open conflict resolved (who, how, when); False when it is not open (any more)."""
    result = await conn.execute(
        text(
            "UPDATE conflicts SET status = 'resolved', resolved_at = now(), resolved_by = :by, "
            "resolution = CAST(:r AS jsonb), updated_at = now() "
            "WHERE customer_id = :c AND id = :id AND status = 'open' RETURNING 1"
        ),
        {"c": customer_id, "id": conflict, "by": by, "r": dumps_text(resolution)},
    )
    return result.first() is not None


async def record_resolution_outcome(conn: Executor, conflict: str, outcome: dict[str, Any]) -> None:
    """The propagation that carried the resolution out, beside the resolution."""
    await conn.execute(
        text("UPDATE conflicts SET resolution = resolution || CAST(:o AS jsonb), updated_at = now() WHERE id = :id"),
        {"id": conflict, "o": dumps_text(outcome)},
    )


async def reopen(conn: Executor, conflict: str) -> None:
    """A resolution that could not be carried out: the conflict is open again."""
    await conn.execute(
        text(
            "UPDATE conflicts SET status = 'open', resolved_at = NULL, resolved_by = NULL, resolution = NULL, "
            "updated_at = now() WHERE id = :id AND status = 'resolved'"
        ),
        {"id": conflict},
    )
