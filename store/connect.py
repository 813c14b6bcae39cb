"""SQL of the connect path: generations, bulk seeding, reconciliation, activation.

Helpers never commit; each activity owns one transaction (or one per batch while seeding).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

PLATFORM_OBJECT_COPY_COLUMNS = (
    "customer_id",
    "platform",
    "entity_type",
    "platform_id",
    "generation",
    "data",
    "canonical_data",
    "match_key",
    "match_keys",
    "etag",
    "remote_updated_at",
)


async def begin_seeding(session: AsyncSession, customer_id: uuid.UUID, platform: str, mode: str) -> int:
    """Mark the connection `seeding` with a fresh generation and clear leftovers of failed seeds."""
    row = (
        await session.execute(
            text(
                """
                INSERT INTO connections (id, customer_id, platform, mode, status, generation, seeding_generation)
                VALUES (gen_random_uuid(), :c, :p, :m, 'seeding', 0, 1)
                ON CONFLICT (customer_id, platform) DO UPDATE
                   SET status = 'seeding', mode = EXCLUDED.mode, error = NULL, updated_at = now(),
                       seeding_generation = GREATEST(connections.generation,
                                                     COALESCE(connections.seeding_generation, 0)) + 1
                RETURNING generation, seeding_generation
                """
            ),
            {"c": customer_id, "p": platform, "m": mode},
        )
    ).one()
    active, seeding = int(row.generation), int(row.seeding_generation)
    # Rows of generations that never became active (a failed or killed connect).
    params = {"c": customer_id, "p": platform, "g": active}
    await session.execute(
        text("DELETE FROM entity_mappings WHERE customer_id = :c AND platform = :p AND generation <> :g"), params
    )
    await session.execute(
        text("DELETE FROM platform_objects WHERE customer_id = :c AND platform = :p AND generation <> :g"), params
    )
    return seeding


async def seeded_count(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str, generation: int
) -> int:
    return int(
        (
            await session.execute(
                text(
                    "SELECT count(*) FROM platform_objects WHERE customer_id = :c AND platform = :p "
                    "AND entity_type = :t AND generation = :g"
                ),
                {"c": customer_id, "p": platform, "t": entity_type, "g": generation},
            )
        ).scalar_one()
    )


async def refresh_statistics(session: AsyncSession) -> None:
    """Bulk loads leave the planner believing the tables are empty, and it then picks nested-loop
    plans that are quadratic in the batch size. ANALYZE samples a bounded number of rows."""
    await session.execute(text("ANALYZE platform_objects"))
    await session.execute(text("ANALYZE entity_mappings"))
    await session.execute(text("ANALYZE canonical_objects"))


async def reference_rows(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, generation: int, entity_types: Sequence[str]
) -> list[tuple[str, str, str, str | None]]:
    """(entity_type, native id, canonical id, business number) of this generation's records of the
    types a new batch may reference. Business Central documents reference jobs by project number."""
    if not entity_types:
        return []
    rows = await session.execute(
        text(
            """
            SELECT m.entity_type, m.platform_id, m.canonical_id,
                   CASE WHEN m.entity_type = 'project'
                        THEN COALESCE(po.data->>'project_number', po.data->>'number') END AS number
              FROM entity_mappings m
              JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                                      AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                                      AND po.generation = m.generation
             WHERE m.customer_id = :c AND m.platform = :p AND m.generation = :g AND m.entity_type = ANY(:t)
            """
        ),
        {"c": customer_id, "p": platform, "g": generation, "t": list(entity_types)},
    )
    return [(r.entity_type, r.platform_id, r.canonical_id, r.number) for r in rows]


async def copy_platform_objects(conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
    """Bulk-insert platform objects with COPY (the fastest path PostgreSQL has)."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    columns = ", ".join(PLATFORM_OBJECT_COPY_COLUMNS)
    async with driver.cursor() as cur, cur.copy(f"COPY platform_objects ({columns}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)


ACTIVE_OTHER = """
    SELECT po.platform_id, po.match_key, po.match_keys, m.canonical_id
      FROM connections oc
      JOIN platform_objects po ON po.customer_id = oc.customer_id AND po.platform = oc.platform
                              AND po.generation = oc.generation
      JOIN entity_mappings m ON m.customer_id = po.customer_id AND m.platform = po.platform
                            AND m.entity_type = po.entity_type AND m.platform_id = po.platform_id
                            AND m.generation = po.generation
     WHERE oc.customer_id = :c AND oc.platform <> :p AND oc.status = 'active'
       AND po.entity_type = :t
"""


async def link_by_single_key(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str, generation: int
) -> int:
    """Create mappings for records whose one business key is unique on both sides (rule 2 of
    reconcile.matching; for single-key entity types the other rules cannot apply)."""
    result = await session.execute(
        text(
            f"""
            WITH mine AS (
                SELECT platform_id, match_key, canonical_data->>'id' AS own_id,
                       count(*) OVER (PARTITION BY match_key) AS holders
                  FROM platform_objects
                 WHERE customer_id = :c AND platform = :p AND entity_type = :t AND generation = :g
                   AND match_key IS NOT NULL
            ), theirs AS (
                SELECT other.*, count(*) OVER (PARTITION BY match_key) AS holders
                  FROM ({ACTIVE_OTHER} AND po.match_key IS NOT NULL) other
            )
            INSERT INTO entity_mappings (customer_id, canonical_id, platform, entity_type, platform_id,
                                         generation, origin)
            -- origin: the linked object is the one this platform created on an earlier connect.
            SELECT :c, theirs.canonical_id, :p, :t, mine.platform_id, :g, theirs.canonical_id = mine.own_id
              FROM mine JOIN theirs USING (match_key)
             WHERE mine.holders = 1 AND theirs.holders = 1
            """
        ),
        {"c": customer_id, "p": platform, "t": entity_type, "g": generation},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def keyed_records(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str, generation: int
) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]], dict[str, str], dict[str, str]]:
    """Both sides' (native id, keys) for the in-memory matcher, the other side's canonical ids and
    the ids this side's records would create.

    Only used for multi-key entity types (customers), which are small."""
    params = {"c": customer_id, "p": platform, "t": entity_type, "g": generation}
    mine = await session.execute(
        text(
            "SELECT platform_id, match_keys, canonical_data->>'id' AS own_id FROM platform_objects "
            "WHERE customer_id = :c AND platform = :p AND entity_type = :t AND generation = :g"
        ),
        params,
    )
    mine_rows = mine.all()
    theirs = (await session.execute(text(ACTIVE_OTHER), params)).all()
    return (
        [(r.platform_id, list(r.match_keys or [])) for r in mine_rows],
        [(r.platform_id, list(r.match_keys or [])) for r in theirs],
        {r.platform_id: r.canonical_id for r in theirs},
        {r.platform_id: r.own_id for r in mine_rows},
    )


async def insert_links(
    session: AsyncSession,
    customer_id: uuid.UUID,
    platform: str,
    entity_type: str,
    generation: int,
    links: Sequence[tuple[str, str]],
    own_ids: dict[str, str],
) -> int:
    """Insert mappings (native id -> existing canonical id) produced by the in-memory matcher.

    `own_ids` are the ids this platform's records would have created: a link back to one of those
    (an object this platform created on an earlier connect) keeps this platform its origin."""
    if not links:
        return 0
    await session.execute(
        text(
            "INSERT INTO entity_mappings (customer_id, canonical_id, platform, entity_type, platform_id, "
            "generation, origin) VALUES (:c, :cid, :p, :t, :pid, :g, :origin)"
        ),
        [
            {
                "c": customer_id,
                "cid": cid,
                "p": platform,
                "t": entity_type,
                "pid": pid,
                "g": generation,
                "origin": cid == own_ids.get(pid),
            }
            for pid, cid in links
        ],
    )
    return len(links)


async def create_unlinked(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str, generation: int
) -> int:
    """Every record not linked gets its own canonical object (id from canonical_data) and mapping.

    Canonical objects that already exist (this platform's previous generation) are left as they are
    until activation, so readers keep a consistent view while the seed runs.
    """
    params = {"c": customer_id, "p": platform, "t": entity_type, "g": generation}
    await session.execute(
        text(
            """
            INSERT INTO canonical_objects (customer_id, id, entity_type, data)
            SELECT po.customer_id, po.canonical_data->>'id', po.entity_type, po.canonical_data
              FROM platform_objects po
             WHERE po.customer_id = :c AND po.platform = :p AND po.entity_type = :t AND po.generation = :g
               AND NOT EXISTS (SELECT 1 FROM entity_mappings m WHERE m.customer_id = po.customer_id
                                 AND m.platform = po.platform AND m.entity_type = po.entity_type
                                 AND m.platform_id = po.platform_id AND m.generation = po.generation)
            ON CONFLICT (customer_id, id) DO NOTHING
            """
        ),
        params,
    )
    result = await session.execute(
        text(
            """
            INSERT INTO entity_mappings (customer_id, canonical_id, platform, entity_type, platform_id,
                                         generation, origin)
            SELECT po.customer_id, po.canonical_data->>'id', po.platform, po.entity_type, po.platform_id,
                   po.generation, true
              FROM platform_objects po
             WHERE po.customer_id = :c AND po.platform = :p AND po.entity_type = :t AND po.generation = :g
               AND NOT EXISTS (SELECT 1 FROM entity_mappings m WHERE m.customer_id = po.customer_id
                                 AND m.platform = po.platform AND m.entity_type = po.entity_type
                                 AND m.platform_id = po.platform_id AND m.generation = po.generation)
            """
        ),
        params,
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def activate(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, generation: int, counts: dict[str, int]
) -> int:
    """Switch readers to `generation` in one transaction; returns how many orphans were deleted."""
    params = {"c": customer_id, "p": platform, "g": generation}
    # The destructive reset: canonical objects this platform created go back to the seeded values.
    await session.execute(
        text(
            """
            UPDATE canonical_objects c
               SET data = po.canonical_data, version = c.version + 1, updated_at = now()
              FROM entity_mappings m
              JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                                      AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                                      AND po.generation = m.generation
             WHERE m.customer_id = :c AND m.platform = :p AND m.generation = :g AND m.origin
               AND c.customer_id = m.customer_id AND c.id = m.canonical_id
               AND c.data IS DISTINCT FROM po.canonical_data
            """
        ),
        params,
    )
    await session.execute(
        text(
            """
            UPDATE connections
               SET status = 'active', generation = :g, seeding_generation = NULL, error = NULL,
                   connected_at = now(), updated_at = now(), entity_counts = CAST(:counts AS jsonb)
             WHERE customer_id = :c AND platform = :p
            """
        ),
        {**params, "counts": _json(counts)},
    )
    await session.execute(
        text("DELETE FROM entity_mappings WHERE customer_id = :c AND platform = :p AND generation <> :g"), params
    )
    await session.execute(
        text("DELETE FROM platform_objects WHERE customer_id = :c AND platform = :p AND generation <> :g"), params
    )
    orphans = await session.execute(
        text(
            """
            DELETE FROM canonical_objects c
             WHERE c.customer_id = :c
               AND NOT EXISTS (SELECT 1 FROM entity_mappings m
                                WHERE m.customer_id = c.customer_id AND m.canonical_id = c.id)
            """
        ),
        {"c": customer_id},
    )
    return int(orphans.rowcount or 0)  # type: ignore[attr-defined]


async def mark_error(session: AsyncSession, customer_id: uuid.UUID, platform: str, error: str) -> None:
    await session.execute(
        text(
            "UPDATE connections SET status = 'error', error = :e, updated_at = now() "
            "WHERE customer_id = :c AND platform = :p"
        ),
        {"c": customer_id, "p": platform, "e": error[:2000]},
    )


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
