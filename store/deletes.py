"""SQL of deletes: canonical tombstones, the records a delete reaches, and forgetting a record that
is gone from its platform (so connection totals and listings stay true)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

from models.delete import DEFAULT_DELETE_POLICY, DeleteTarget
from store.propagate import ACTIVE_MAPPING, ACTIVE_RECORD, Executor

_TOMBSTONE = text(
    """
    UPDATE canonical_objects
       SET version = version + CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END,
           deleted_at = COALESCE(deleted_at, now()), deleted_by = COALESCE(deleted_by, :by), updated_at = now()
     WHERE customer_id = :c AND id = :cid
    RETURNING entity_type, data, version,
              to_char(deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), deleted_by
    """
)


async def tombstone(
    conn: Executor, customer_id: uuid.UUID, canonical_id: str, by: str
) -> tuple[str, dict[str, Any], int, str, str] | None:
    """Mark the object deleted (once: a repeat keeps the first when and who): (entity type, data,
    version, deleted at, deleted by), or None when the customer has no such object."""
    row = (await conn.execute(_TOMBSTONE, {"c": customer_id, "cid": canonical_id, "by": by})).one_or_none()
    if row is None:
        return None
    return str(row[0]), dict(row[1]), int(row[2]), str(row[3]), str(row[4])


async def delete_targets(conn: Executor, customer_id: uuid.UUID, canonical_id: str) -> list[DeleteTarget]:
    """The active connections holding a record of the object, with their delete policies."""
    rows = await conn.execute(
        text(
            f"""
            SELECT m.platform, cn.mode, m.platform_id, cn.settings ->> 'delete_policy'
              FROM {ACTIVE_MAPPING}
             WHERE m.customer_id = :c AND m.canonical_id = :cid AND cn.status = 'active'
             ORDER BY m.platform
            """
        ),
        {"c": customer_id, "cid": canonical_id},
    )
    return [
        DeleteTarget(platform=str(r[0]), mode=str(r[1]), platform_id=str(r[2]), policy=r[3] or DEFAULT_DELETE_POLICY)
        for r in rows
    ]


async def stored_record(
    conn: Executor, customer_id: uuid.UUID, platform: str, canonical_id: str
) -> tuple[str, dict[str, Any]] | None:
    """(entity type, native record as last stored) of the object's record on ``platform``."""
    row = (
        await conn.execute(
            text(
                f"SELECT m.entity_type, po.data FROM {ACTIVE_RECORD} "
                "WHERE m.customer_id = :c AND m.canonical_id = :cid AND m.platform = :p"
            ),
            {"c": customer_id, "cid": canonical_id, "p": platform},
        )
    ).one_or_none()
    return None if row is None else (str(row[0]), dict(row[1]))


async def forget_record(conn: Executor, customer_id: uuid.UUID, platform: str, canonical_id: str) -> None:
    """The object's record is gone from ``platform``: its mapping and stored copy go (the canonical
    tombstone and the propagation history keep what it was)."""
    await conn.execute(
        text(
            """
            WITH gone AS (
                DELETE FROM entity_mappings m USING connections cn
                 WHERE m.customer_id = :c AND m.canonical_id = :cid AND m.platform = :p
                   AND cn.customer_id = m.customer_id AND cn.platform = m.platform AND cn.generation = m.generation
                RETURNING m.platform_id, m.entity_type, m.generation
            )
            DELETE FROM platform_objects po USING gone
             WHERE po.customer_id = :c AND po.platform = :p AND po.platform_id = gone.platform_id
               AND po.entity_type = gone.entity_type AND po.generation = gone.generation
            """
        ),
        {"c": customer_id, "cid": canonical_id, "p": platform},
    )


async def is_deleted(conn: Executor, customer_id: uuid.UUID, canonical_id: str) -> bool:
    value = (
        await conn.execute(
            text("SELECT deleted_at IS NOT NULL FROM canonical_objects WHERE customer_id = :c AND id = :cid"),
            {"c": customer_id, "cid": canonical_id},
        )
    ).scalar_one_or_none()
    return bool(value)


async def mapped_ids(conn: Executor, customer_id: uuid.UUID, platform: str, entity_type: str) -> dict[str, str]:
    """Platform id -> canonical id of the type's records mapped on ``platform`` whose canonical
    object is not deleted: what a deletion sweep expects to find on the platform."""
    rows = await conn.execute(
        text(
            f"""
            SELECT m.platform_id, m.canonical_id FROM {ACTIVE_MAPPING}
              JOIN canonical_objects co ON co.customer_id = m.customer_id AND co.id = m.canonical_id
             WHERE m.customer_id = :c AND m.platform = :p AND m.entity_type = :t AND co.deleted_at IS NULL
            """
        ),
        {"c": customer_id, "p": platform, "t": entity_type},
    )
    return {str(r[0]): str(r[1]) for r in rows}


async def object_state(conn: Executor, customer_id: uuid.UUID, canonical_id: str) -> tuple[str, bool] | None:
    """(entity type, deleted) of the customer's canonical object, or None."""
    row = (
        await conn.execute(
            text(
                "SELECT entity_type, deleted_at IS NOT NULL FROM canonical_objects WHERE customer_id = :c AND id = :cid"
            ),
            {"c": customer_id, "cid": canonical_id},
        )
    ).one_or_none()
    return None if row is None else (str(row[0]), bool(row[1]))


async def last_sweep(conn: Executor, customer_id: uuid.UUID, platform: str) -> datetime | None:
    """When the connection's records were last all read: its last deletion sweep, else its connect
    (a connect reads every record, so it counts as one)."""
    value = (
        await conn.execute(
            text(
                "SELECT COALESCE(CAST(settings #>> '{sync,last_sweep_at}' AS timestamptz), connected_at) "
                "FROM connections WHERE customer_id = :c AND platform = :p"
            ),
            {"c": customer_id, "p": platform},
        )
    ).scalar_one_or_none()
    return value if isinstance(value, datetime) else None
