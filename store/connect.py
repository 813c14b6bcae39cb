"""SQL of the connect path: generations, bulk seeding, reconciliation, activation.

Helpers never commit; each activity owns one transaction (or one per batch while seeding).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection as AsyncDriverConnection
from psycopg import AsyncCopy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reconcile.keys import business_keys

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


# The columns queries filter and join on: statistics of the wide JSON columns cost more than all
# the rest together and no plan uses them.
_STATISTICS_COLUMNS = {
    "platform_objects": "customer_id, platform, entity_type, platform_id, generation, match_key",
    "entity_mappings": "customer_id, canonical_id, platform, entity_type, platform_id, generation",
}
# ANALYZE samples 300 rows per unit of statistics target: 3,000 rows instead of the default
# 30,000, which took a second on a million-row platform_objects and ~50 ms this way. Plenty for
# these columns (few distinct values, or only used to estimate join sizes).
_STATISTICS_TARGET = 10


async def refresh_statistics(session: AsyncSession, grown: dict[str, int]) -> None:
    """ANALYZE the key columns of the tables a bulk step grew by more than a tenth. Commit after it.

    A bulk load leaves the planner believing a new customer has no rows, and it then picks plans
    that are quadratic in the batch size (a nested loop over what it thinks is one row, an index on
    the customer alone for each lookup). `grown` maps each table to the rows the step added; a
    tenth is autovacuum's own threshold, applied at once instead of within a minute (a customer
    small against the table is estimated well enough meanwhile)."""
    rows = await session.execute(
        text("SELECT relname, reltuples FROM pg_class WHERE oid = ANY(CAST(:t AS regclass[]))"), {"t": list(grown)}
    )
    sizes = {r.relname: float(r.reltuples) for r in rows}
    stale = [t for t, added in grown.items() if added > 0 and (sizes.get(t, -1.0) <= 0 or added > 0.1 * sizes[t])]
    if stale:
        await session.execute(text(f"SET LOCAL default_statistics_target = {_STATISTICS_TARGET}"))
    for table in stale:
        await session.execute(text(f"ANALYZE {table} ({_STATISTICS_COLUMNS[table]})"))


async def lock_canonical_links(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Serialise, until this transaction ends, the steps of one customer's connects that write
    mappings or delete canonical objects (reconciliation and activation).

    entity_mappings has no foreign key to canonical_objects (migration 0003): this lock is what
    keeps an activation's orphan delete from removing an object a concurrent reconciliation is
    linking to (connects of one customer are already one at a time; this makes it a guarantee)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('canonical-links:' || CAST(:c AS text), 0))"),
        {"c": customer_id},
    )


async def plan_for_bulk(session: AsyncSession) -> None:
    """Planner settings for the rest of this transaction's set-based statements over a whole seed.

    Statistics lag behind a seed (see `refresh_statistics`), and a customer they have not seen
    is planned as a handful of rows, with nested loops or merge joins on a key prefix: quadratic
    over a bulk load. Hash joins are linear whatever the estimates; the extra memory keeps the
    hashes of a 100k-record type in memory.
    """
    await session.execute(
        text(
            "SELECT set_config('enable_nestloop', 'off', true), set_config('enable_mergejoin', 'off', true),"
            " set_config('work_mem', '64MB', true)"
        )
    )


async def reference_rows(
    session: AsyncSession | AsyncConnection,
    customer_id: uuid.UUID,
    platform: str,
    generation: int,
    entity_types: Sequence[str],
    number_field: tuple[str, str | None],
) -> list[tuple[str, str, str, str | None]]:
    """(entity_type, native id, canonical id, business number) of this generation's records of the
    types a new batch may reference. `number_field`: the type referenced by number and the native
    field holding its number (Business Central documents reference jobs by project number)."""
    if not entity_types:
        return []
    rows = await session.execute(
        text(
            """
            SELECT m.entity_type, m.platform_id, m.canonical_id,
                   CASE WHEN m.entity_type = :nt THEN po.data->>CAST(:nf AS text) END AS number
              FROM entity_mappings m
              JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                                      AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                                      AND po.generation = m.generation
             WHERE m.customer_id = :c AND m.platform = :p AND m.generation = :g AND m.entity_type = ANY(:t)
            """
        ),
        {
            "c": customer_id, "p": platform, "g": generation, "t": list(entity_types),
            "nt": number_field[0], "nf": number_field[1],
        },
    )
    return [(r.entity_type, r.platform_id, r.canonical_id, r.number) for r in rows]


async def linked_types(
    session: AsyncSession | AsyncConnection,
    customer_id: uuid.UUID,
    platform: str,
    generation: int,
    entity_types: Sequence[str],
) -> list[str]:
    """Which of `entity_types` have records of this generation linked to another platform's
    canonical objects (mappings with `origin` false). References to the other types resolve to the
    ids the mapper derives, without a lookup."""
    rows = await session.execute(
        text(
            """
            SELECT t.entity_type
              FROM unnest(CAST(:t AS text[])) AS t(entity_type)
             WHERE EXISTS (SELECT 1 FROM entity_mappings m
                            WHERE m.customer_id = :c AND m.platform = :p AND m.entity_type = t.entity_type
                              AND m.generation = :g AND NOT m.origin)
            """
        ),
        {"c": customer_id, "p": platform, "g": generation, "t": list(entity_types)},
    )
    return [r.entity_type for r in rows]


async def references_by_id(
    conn: AsyncDriverConnection,
    customer_id: uuid.UUID,
    platform: str,
    generation: int,
    entity_types: Sequence[str],
    platform_ids: Sequence[str],
) -> list[tuple[str, str, str]]:
    """(entity_type, native id, canonical id) of the given (entity type, native id) pairs of this
    generation that are mapped: the references one seed chunk carries.

    One unique-index lookup per pair (LATERAL ... LIMIT 1 keeps it so; a hash join would read every
    mapping of the customer for each chunk). On the driver connection with binary parameters: the
    references of a chunk are thousands of ids."""
    if not platform_ids:
        return []
    cur = await conn.execute(
        """
        SELECT r.entity_type, r.platform_id, m.canonical_id
          FROM unnest(%b::text[], %b::text[]) AS r(entity_type, platform_id)
         CROSS JOIN LATERAL (
               SELECT canonical_id FROM entity_mappings
                WHERE customer_id = %b AND platform = %b AND entity_type = r.entity_type
                  AND platform_id = r.platform_id AND generation = %b
                LIMIT 1) m
        """,
        (list(entity_types), list(platform_ids), customer_id, platform, generation),
    )
    return await cur.fetchall()


async def references_by_number(
    conn: AsyncDriverConnection,
    customer_id: uuid.UUID,
    platform: str,
    generation: int,
    entity_type: str,
    number_field: str,
    numbers: Sequence[str],
) -> list[tuple[str, str, str]]:
    """(number, native id, canonical id) of the mapped records of this generation whose business
    number (native field `number_field`) is one of `numbers` (BC documents reference jobs by number).

    Found through the match-key index: a record's number key is its normalised number."""
    if not numbers:
        return []
    keyed: list[tuple[str, str]] = []
    keyless: list[str] = []  # numbers without a letter or digit have no key (never in practice)
    for number in numbers:
        keys = business_keys(platform, entity_type, {number_field: number})
        if keys:
            keyed.append((number, keys[0]))
        else:
            keyless.append(number)
    number_of = "po.data->>%(nf)b::text"
    mapping = """
         CROSS JOIN LATERAL (
               SELECT canonical_id FROM entity_mappings m
                WHERE m.customer_id = %(c)b AND m.platform = %(p)b AND m.entity_type = %(t)b
                  AND m.platform_id = po.platform_id AND m.generation = %(g)b
                LIMIT 1) m
    """
    params = {"c": customer_id, "p": platform, "g": generation, "t": entity_type, "nf": number_field}
    rows: list[tuple[str, str, str]] = []
    if keyed:
        cur = await conn.execute(
            f"""
            SELECT n.number, po.platform_id, m.canonical_id
              FROM unnest(%(numbers)b::text[], %(keys)b::text[]) AS n(number, key)
             CROSS JOIN LATERAL (
                   SELECT po.platform_id FROM platform_objects po
                    WHERE po.customer_id = %(c)b AND po.entity_type = %(t)b AND po.match_key = n.key
                      AND po.platform = %(p)b AND po.generation = %(g)b AND {number_of} = n.number) po
            {mapping}
            """,
            {**params, "numbers": [n for n, _ in keyed], "keys": [k for _, k in keyed]},
        )
        rows += await cur.fetchall()
    if keyless:
        cur = await conn.execute(
            f"""
            SELECT {number_of}, po.platform_id, m.canonical_id
              FROM platform_objects po
            {mapping}
             WHERE po.customer_id = %(c)b AND po.entity_type = %(t)b AND po.match_key IS NULL
               AND po.platform = %(p)b AND po.generation = %(g)b AND {number_of} = ANY(%(numbers)b::text[])
            """,
            {**params, "numbers": keyless},
        )
        rows += await cur.fetchall()
    return rows


class CustomerGone(Exception):
    """The customer whose rows a seed would write no longer exists (deleted meanwhile)."""


@asynccontextmanager
async def platform_objects_copy(conn: AsyncConnection, customer_id: uuid.UUID) -> AsyncIterator[AsyncCopy]:
    """A COPY into platform_objects taking rows of `customer_id` already encoded in COPY text
    format (`PLATFORM_OBJECT_COPY_COLUMNS`), written with `await copy.write(data)`.

    Takes first, for the transaction, the lock a foreign key to customers would take for every
    row: the customer cannot be deleted until this commits, and a deleted one gets no rows
    (migration 0004). Raises CustomerGone when it no longer exists."""
    exists = await conn.execute(
        text("SELECT 1 FROM customers WHERE id = :c FOR KEY SHARE"), {"c": customer_id}
    )
    if exists.first() is None:
        raise CustomerGone(f"customer {customer_id} no longer exists")
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    _deepen_send_buffer(driver.pgconn.socket)
    columns = ", ".join(PLATFORM_OBJECT_COPY_COLUMNS)
    async with driver.cursor() as cur, cur.copy(f"COPY platform_objects ({columns}) FROM STDIN") as copy:
        yield copy


COPY_SEND_BUFFER = 4 << 20


def _deepen_send_buffer(fd: int) -> None:
    """Let a local COPY queue seconds, not milliseconds, of rows in the kernel.

    The seed maps rows in a thread while the event loop feeds the COPY; the loop gets the GIL back
    only every few milliseconds, and a Unix socket's default buffer (~200 kB) is about what the
    server parses in that time, so it would sit idle between refills. The kernel caps the size at
    net.core.wmem_max. TCP sockets are left to the kernel's autotuning."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        if sock.family == socket.AF_UNIX and sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < COPY_SEND_BUFFER:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, COPY_SEND_BUFFER)
    finally:
        sock.close()


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
) -> tuple[int, int | None]:
    """Create mappings for records whose one business key is unique on both sides (rule 2 of
    reconcile.matching; for single-key entity types the other rules cannot apply).

    Returns (linked, records of this type, None when no other platform is connected): when every
    record linked there is nothing to create. The other side's platform and generation are read
    first, so both sides are range scans of the identity indexes; uniqueness is a hash aggregate
    per side, then one hash join (see `plan_for_bulk`)."""
    others = (
        await session.execute(
            text("SELECT platform, generation FROM connections WHERE customer_id = :c AND platform <> :p AND status = 'active'"),
            {"c": customer_id, "p": platform},
        )
    ).all()
    if not others:
        return 0, None
    row = (
        await session.execute(
            text(
                """
                WITH mine AS (
                    SELECT platform_id, match_key, canonical_data->>'id' AS own_id
                      FROM platform_objects
                     WHERE customer_id = :c AND platform = :p AND entity_type = :t AND generation = :g
                ), mine_unique AS (
                    SELECT match_key, min(platform_id) AS platform_id, min(own_id) AS own_id
                      FROM mine
                     GROUP BY match_key
                    HAVING count(*) = 1
                ), theirs_unique AS (
                    -- A NULL key forms a group too, but never equals anything in the join below.
                    SELECT po.match_key, min(m.canonical_id) AS canonical_id
                      FROM platform_objects po
                      JOIN entity_mappings m ON m.customer_id = po.customer_id AND m.platform = po.platform
                                            AND m.entity_type = po.entity_type AND m.platform_id = po.platform_id
                                            AND m.generation = po.generation
                     WHERE po.customer_id = :c AND po.entity_type = :t
                       AND po.platform = ANY(CAST(:others AS text[])) AND po.generation = ANY(CAST(:generations AS int[]))
                       AND m.customer_id = :c AND m.entity_type = :t
                       AND m.platform = ANY(CAST(:others AS text[])) AND m.generation = ANY(CAST(:generations AS int[]))
                       AND po.platform || ':' || po.generation = ANY(CAST(:pairs AS text[]))
                     GROUP BY po.match_key
                    HAVING count(*) = 1
                ), linked AS (
                    INSERT INTO entity_mappings (customer_id, canonical_id, platform, entity_type, platform_id,
                                                 generation, origin)
                    -- origin: the linked object is the one this platform created on an earlier connect.
                    SELECT :c, theirs.canonical_id, :p, :t, mine.platform_id, :g, theirs.canonical_id = mine.own_id
                      FROM mine_unique mine JOIN theirs_unique theirs USING (match_key)
                    RETURNING 1
                )
                SELECT (SELECT count(*) FROM linked) AS linked, (SELECT count(*) FROM mine) AS total
                """
            ),
            {
                "c": customer_id,
                "p": platform,
                "t": entity_type,
                "g": generation,
                "others": [o.platform for o in others],
                "generations": [o.generation for o in others],
                "pairs": [f"{o.platform}:{o.generation}" for o in others],
            },
        )
    ).one()
    return int(row.linked), int(row.total)


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
    # One statement over arrays (not one INSERT per link): customers number thousands.
    await session.execute(
        text(
            """
            INSERT INTO entity_mappings (customer_id, canonical_id, platform, entity_type, platform_id,
                                         generation, origin)
            SELECT :c, l.canonical_id, :p, :t, l.platform_id, :g, l.origin
              FROM unnest(CAST(:pids AS text[]), CAST(:cids AS text[]), CAST(:origins AS boolean[]))
                   AS l(platform_id, canonical_id, origin)
            """
        ),
        {
            "c": customer_id,
            "p": platform,
            "t": entity_type,
            "g": generation,
            "pids": [pid for pid, _ in links],
            "cids": [cid for _, cid in links],
            "origins": [cid == own_ids.get(pid) for pid, cid in links],
        },
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
    # Ids derive from this platform's native ids, so only objects this platform created before can
    # collide. A first connect has none of this type: it skips the per-row conflict check.
    existing = await session.execute(
        text("SELECT EXISTS (SELECT 1 FROM canonical_objects WHERE customer_id = :c AND entity_type = :t)"), params
    )
    conflicts = "ON CONFLICT (customer_id, id) DO NOTHING" if existing.scalar_one() else ""
    await session.execute(
        text(
            f"""
            INSERT INTO canonical_objects (customer_id, id, entity_type, data)
            SELECT po.customer_id, po.canonical_data->>'id', po.entity_type, po.canonical_data
              FROM platform_objects po
             WHERE po.customer_id = :c AND po.platform = :p AND po.entity_type = :t AND po.generation = :g
               AND NOT EXISTS (SELECT 1 FROM entity_mappings m WHERE m.customer_id = po.customer_id
                                 AND m.platform = po.platform AND m.entity_type = po.entity_type
                                 AND m.platform_id = po.platform_id AND m.generation = po.generation)
            {conflicts}
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
    # Only objects older than their mapping can differ: one created together with its mapping (same
    # transaction, same now()) was inserted from exactly these values by `create_unlinked`.
    await session.execute(
        text(
            """
            WITH older AS MATERIALIZED (
                SELECT m.entity_type, m.platform_id, m.canonical_id
                  FROM entity_mappings m
                  JOIN canonical_objects c ON c.customer_id = m.customer_id AND c.id = m.canonical_id
                 WHERE m.customer_id = :c AND m.platform = :p AND m.generation = :g AND m.origin
                   AND c.customer_id = :c AND c.created_at <> m.created_at
            )
            UPDATE canonical_objects c
               SET data = po.canonical_data, version = c.version + 1, updated_at = now()
              FROM older o
              JOIN platform_objects po ON po.customer_id = :c AND po.platform = :p AND po.entity_type = o.entity_type
                                      AND po.platform_id = o.platform_id AND po.generation = :g
             WHERE c.customer_id = :c AND c.id = o.canonical_id
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
    # Older generations (the previous active one; `begin_seeding` removed the rest). `<` is checked
    # inside the identity index; `<>` could only be checked on every row of the platform.
    await session.execute(
        text("DELETE FROM entity_mappings WHERE customer_id = :c AND platform = :p AND generation < :g"), params
    )
    await session.execute(
        text("DELETE FROM platform_objects WHERE customer_id = :c AND platform = :p AND generation < :g"), params
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
