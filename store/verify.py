"""SQL of verify runs: the mapped records a run compares, its findings and counts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from canonical.jsonio import dumps_text
from store.propagate import ACTIVE_RECORD, Executor


async def create_run(conn: Executor, run_id: str, customer_id: uuid.UUID, platform: str, *, repair: bool) -> None:
    await conn.execute(
        text(
            "INSERT INTO verify_runs (id, customer_id, platform, status, repair, counts) "
            "VALUES (:id, :c, :p, 'running', :r, '{}'::jsonb) ON CONFLICT (id) DO NOTHING"
        ),
        {"id": run_id, "c": customer_id, "p": platform, "r": repair},
    )


async def mapped_records(
    conn: Executor, customer_id: uuid.UUID, platform: str, entity_type: str
) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """Platform id -> (canonical id, the record as the engine last read it, canonical data) of the
    type's records mapped on ``platform`` whose canonical object is not deleted."""
    rows = await conn.execute(
        text(
            f"""
            SELECT m.platform_id, m.canonical_id, po.data, co.data FROM {ACTIVE_RECORD}
              JOIN canonical_objects co ON co.customer_id = m.customer_id AND co.id = m.canonical_id
             WHERE m.customer_id = :c AND m.platform = :p AND m.entity_type = :t AND co.deleted_at IS NULL
            """
        ),
        {"c": customer_id, "p": platform, "t": entity_type},
    )
    return {str(r[0]): (str(r[1]), dict(r[2]), dict(r[3])) for r in rows}


async def save_type(
    conn: Executor, run_id: str, entity_type: str, records: list[dict[str, Any]], counts: dict[str, int]
) -> None:
    """A type's findings and counts (replacing an interrupted attempt's: a retried type starts over)."""
    await conn.execute(
        text("DELETE FROM verify_records WHERE run_id = :r AND entity_type = :t"), {"r": run_id, "t": entity_type}
    )
    if records:
        await conn.execute(
            text(
                "INSERT INTO verify_records (run_id, entity_type, canonical_id, platform_id, status, fields, "
                "platform_modified) VALUES (:r, :t, :cid, :pid, :s, CAST(:f AS jsonb), :m)"
            ),
            [
                {
                    "r": run_id,
                    "t": entity_type,
                    "cid": x["canonical_id"],
                    "pid": x["platform_id"],
                    "s": x["status"],
                    "f": dumps_text(x["fields"]),
                    "m": x["platform_modified"],
                }
                for x in records
            ],
        )
    await conn.execute(
        text("UPDATE verify_runs SET counts = counts || CAST(:c AS jsonb) WHERE id = :r"),
        {"r": run_id, "c": dumps_text({entity_type: counts})},
    )


async def mark_repaired(conn: Executor, run_id: str, entity_type: str, platform_ids: list[str]) -> None:
    await conn.execute(
        text(
            "UPDATE verify_records SET repaired = true "
            "WHERE run_id = :r AND entity_type = :t AND platform_id = ANY(:ids) AND status = 'drifted'"
        ),
        {"r": run_id, "t": entity_type, "ids": platform_ids},
    )


async def finish_run(conn: Executor, run_id: str, status: str, error: str | None = None) -> None:
    await conn.execute(
        text("UPDATE verify_runs SET status = :s, error = :e, finished_at = now() WHERE id = :r"),
        {"r": run_id, "s": status, "e": error},
    )


async def get_run(conn: Executor, customer_id: uuid.UUID, run_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            text(
                "SELECT id, platform, status, repair, counts, error, started_at, finished_at FROM verify_runs "
                "WHERE customer_id = :c AND id = :r"
            ),
            {"c": customer_id, "r": run_id},
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


async def list_records(
    conn: Executor, run_id: str, *, entity_type: str | None, status: str | None, after: int, limit: int
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """
            SELECT seq, entity_type, canonical_id, platform_id, status, fields, platform_modified, repaired
              FROM verify_records
             WHERE run_id = :r AND seq > :after
               AND (CAST(:t AS text) IS NULL OR entity_type = :t)
               AND (CAST(:s AS text) IS NULL OR status = :s)
             ORDER BY seq LIMIT :limit
            """
        ),
        {"r": run_id, "t": entity_type, "s": status, "after": after, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]
