"""SQL of records created after a connect: a new platform record becomes a canonical object (or is
linked to the one whose other-platform record has the same business key), and a record the engine
creates or finds on another platform is mapped to it.

Both run under one transaction-scoped advisory lock per (customer, entity type): two records keyed
in on both platforms at the same moment are linked to one canonical object, never two, and the
record the engine just created, coming back as "new" from that platform's own webhook or delta pass,
is seen mapped (its business key is not known before the platform numbers it, so a key-scoped lock
would not serialise the two). New records are rare next to updates; one lock per type costs nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from canonical.jsonio import dumps_text
from models.create import CreateTargetResult
from models.delete import DeleteTargetResult
from store.propagate import ACTIVE_MAPPING, ACTIVE_RECORD, SAVE_TARGET, Executor


@dataclass(frozen=True)
class Registered:
    canonical_id: str
    linked: bool  # mapped to an existing canonical object (the same record on another platform)
    new: bool  # this call registered it (False: it was mapped already)


async def lock_type(conn: Executor, customer_id: uuid.UUID, entity_type: str) -> None:
    """Serialise registrations and creates of one customer's entity type (see the module docstring)."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"create|{customer_id}|{entity_type}"},
    )


async def mapped_canonical(
    conn: Executor, customer_id: uuid.UUID, platform: str, entity_type: str, platform_id: str
) -> str | None:
    value = (
        await conn.execute(
            text(
                f"SELECT m.canonical_id FROM {ACTIVE_MAPPING} WHERE m.customer_id = :c AND m.platform = :p "
                "AND m.entity_type = :t AND m.platform_id = :pid"
            ),
            {"c": customer_id, "p": platform, "t": entity_type, "pid": platform_id},
        )
    ).scalar_one_or_none()
    return None if value is None else str(value)


_LINK_CANDIDATE = text(
    f"""
    SELECT m.canonical_id FROM {ACTIVE_RECORD}
     WHERE m.customer_id = :c AND m.entity_type = :t AND m.platform <> :p AND po.match_key = :k
       -- a deleted object's record kept elsewhere is no partner for a new one
       AND NOT EXISTS (SELECT 1 FROM canonical_objects co
                        WHERE co.customer_id = m.customer_id AND co.id = m.canonical_id AND co.deleted_at IS NOT NULL)
       AND NOT EXISTS (
           SELECT 1 FROM entity_mappings m2
             JOIN connections c2 ON c2.customer_id = m2.customer_id AND c2.platform = m2.platform
                                AND c2.generation = m2.generation
            WHERE m2.customer_id = m.customer_id AND m2.canonical_id = m.canonical_id AND m2.platform = :p)
     ORDER BY m.id
     LIMIT 1
    """
)

_INSERT_RECORD = text(
    """
    WITH gen AS (
        SELECT generation FROM connections WHERE customer_id = :c AND platform = :p AND status = 'active'
    ),
    obj AS (
        INSERT INTO platform_objects (customer_id, platform, entity_type, platform_id, generation, data,
                                      canonical_data, match_key, match_keys, etag, remote_updated_at,
                                      applied_version)
        SELECT :c, :p, :t, :pid, gen.generation, CAST(:d AS jsonb), CAST(:cd AS jsonb), :k,
               CAST(:ks AS text[]), :e, :u, :v FROM gen
        ON CONFLICT ON CONSTRAINT uq_platform_objects_identity DO NOTHING
        RETURNING generation
    )
    INSERT INTO entity_mappings (customer_id, canonical_id, platform, entity_type, platform_id, generation, origin)
    SELECT :c, :cid, :p, :t, :pid, gen.generation, :origin FROM gen
    ON CONFLICT ON CONSTRAINT uq_entity_mappings_platform_id DO NOTHING
    """
)


async def _insert_record(
    conn: Executor,
    customer_id: uuid.UUID,
    canonical_id: str,
    *,
    platform: str,
    entity_type: str,
    platform_id: str,
    native: dict[str, Any],
    canonical_data: dict[str, Any],
    keys: list[str],
    etag: str | None,
    updated_at: str | None,
    version: int,
    origin: bool,
) -> None:
    await conn.execute(
        _INSERT_RECORD,
        {
            "c": customer_id,
            "p": platform,
            "t": entity_type,
            "pid": platform_id,
            "d": dumps_text(native),
            "cd": dumps_text(canonical_data),
            "k": keys[0] if keys else None,
            "ks": keys or None,
            "e": etag,
            "u": updated_at,
            "v": version,
            "cid": canonical_id,
            "origin": origin,
        },
    )


async def _version(conn: Executor, customer_id: uuid.UUID, canonical_id: str) -> int:
    found = await conn.execute(
        text("SELECT version FROM canonical_objects WHERE customer_id = :c AND id = :cid"),
        {"c": customer_id, "cid": canonical_id},
    )
    return int(found.scalar_one())


async def register_record(
    conn: Executor,
    customer_id: uuid.UUID,
    *,
    platform: str,
    entity_type: str,
    platform_id: str,
    native: dict[str, Any],
    canonical_data: dict[str, Any],
    canonical_id: str,
    keys: list[str],
    etag: str | None,
    updated_at: str | None,
    claimed: str | None = None,
) -> Registered:
    """Map a platform record that appeared after the connect: to the canonical object ``claimed`` (the
    one whose create marker it carries: the engine made it and lost the answer), or the one whose
    record on another platform has the same strongest business key and no record here yet (linked),
    or to a new canonical object ``canonical_id`` holding ``canonical_data``. Idempotent."""
    await lock_type(conn, customer_id, entity_type)
    existing = await mapped_canonical(conn, customer_id, platform, entity_type, platform_id)
    if existing is not None:
        return Registered(existing, linked=False, new=False)
    linked = None
    if claimed is not None and await target_mapping(conn, customer_id, claimed, platform) is None:
        owner = await canonical_state(conn, customer_id, claimed)
        linked = claimed if owner is not None and owner[0] == entity_type else None
    if keys and linked is None:
        found = (
            await conn.execute(_LINK_CANDIDATE, {"c": customer_id, "t": entity_type, "p": platform, "k": keys[0]})
        ).scalar_one_or_none()
        linked = None if found is None else str(found)
    target = linked or canonical_id
    version = 1
    if linked is None:
        await insert_canonical(conn, customer_id, target, entity_type, canonical_data)
    else:
        version = await _version(conn, customer_id, target)
    await _insert_record(
        conn,
        customer_id,
        target,
        platform=platform,
        entity_type=entity_type,
        platform_id=platform_id,
        native=native,
        canonical_data=canonical_data,
        keys=keys,
        etag=etag,
        updated_at=updated_at,
        version=version,
        origin=linked is None,
    )
    await add_pending(conn, customer_id, target, platform, entity_type)
    return Registered(target, linked=linked is not None, new=True)


async def map_target(
    conn: Executor,
    customer_id: uuid.UUID,
    canonical_id: str,
    *,
    platform: str,
    entity_type: str,
    platform_id: str,
    native: dict[str, Any],
    canonical_data: dict[str, Any],
    keys: list[str],
    etag: str | None,
    updated_at: str | None,
) -> str:
    """Map the record found or created on ``platform`` for the canonical object. The canonical id it is
    mapped to: one mapped meanwhile wins (a registration of the same record by that platform's own
    delta pass), and the caller treats a different answer as linked. The caller holds ``lock_type``."""
    existing = await mapped_canonical(conn, customer_id, platform, entity_type, platform_id)
    if existing is not None:
        return existing
    version = await _version(conn, customer_id, canonical_id)
    await _insert_record(
        conn,
        customer_id,
        canonical_id,
        platform=platform,
        entity_type=entity_type,
        platform_id=platform_id,
        native=native,
        canonical_data=canonical_data,
        keys=keys,
        etag=etag,
        updated_at=updated_at,
        version=version,
        origin=False,
    )
    return canonical_id


async def target_mapping(conn: Executor, customer_id: uuid.UUID, canonical_id: str, platform: str) -> str | None:
    """The platform id the canonical object is mapped to on ``platform`` (active generation)."""
    value = (
        await conn.execute(
            text(
                f"SELECT m.platform_id FROM {ACTIVE_MAPPING} WHERE m.customer_id = :c AND m.canonical_id = :cid "
                "AND m.platform = :p"
            ),
            {"c": customer_id, "cid": canonical_id, "p": platform},
        )
    ).scalar_one_or_none()
    return None if value is None else str(value)


async def create_targets(conn: Executor, customer_id: uuid.UUID, canonical_id: str) -> list[tuple[str, str]]:
    """The customer's active connections (platform, mode) the canonical object has no record on."""
    rows = await conn.execute(
        text(
            f"""
            SELECT c.platform, c.mode FROM connections c
             WHERE c.customer_id = :c AND c.status = 'active'
               AND NOT EXISTS (SELECT 1 FROM {ACTIVE_MAPPING}
                                WHERE m.customer_id = c.customer_id AND m.canonical_id = :cid
                                  AND m.platform = c.platform)
             ORDER BY c.platform
            """
        ),
        {"c": customer_id, "cid": canonical_id},
    )
    return [(str(r[0]), str(r[1])) for r in rows]


async def reference_links(
    conn: Executor,
    customer_id: uuid.UUID,
    platform: str,
    canonical_ids: list[str],
    number_field: tuple[str, str | None],
) -> list[tuple[str, str, str, str | None]]:
    """(entity type, canonical id, platform id, business number) of the referenced objects mapped on
    ``platform``: the ids map a record rendered for that platform resolves through. ``number_field``:
    the entity type referenced by number there and the native field holding it (as a fan-out's)."""
    if not canonical_ids:
        return []
    rows = await conn.execute(
        text(
            f"""
            SELECT m.entity_type, m.canonical_id, m.platform_id,
                   CASE WHEN m.entity_type = :nt THEN po.data ->> CAST(:nf AS text) END
              FROM {ACTIVE_RECORD}
             WHERE m.customer_id = :c AND m.platform = :p AND m.canonical_id = ANY(:ids)
            """
        ),
        {"c": customer_id, "p": platform, "ids": canonical_ids, "nt": number_field[0], "nf": number_field[1]},
    )
    return [(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3])) for r in rows]


async def referenced_records(
    conn: Executor, customer_id: uuid.UUID, platform: str, canonical_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Entity type -> the stored native record of the referenced objects mapped on ``platform``:
    what a create takes what its record lacks from (a BC payment's currency is its customer's)."""
    if not canonical_ids:
        return {}
    rows = await conn.execute(
        text(
            f"""
            SELECT m.entity_type, po.data FROM {ACTIVE_RECORD}
             WHERE m.customer_id = :c AND m.platform = :p AND m.canonical_id = ANY(:ids)
            """
        ),
        {"c": customer_id, "p": platform, "ids": canonical_ids},
    )
    return {str(r[0]): dict(r[1]) for r in rows if r[1] is not None}


async def insert_canonical(
    conn: Executor, customer_id: uuid.UUID, canonical_id: str, entity_type: str, data: dict[str, Any]
) -> None:
    await conn.execute(
        text(
            "INSERT INTO canonical_objects (customer_id, id, entity_type, data, version) "
            "VALUES (:c, :cid, :t, CAST(:d AS jsonb), 1) ON CONFLICT DO NOTHING"
        ),
        {"c": customer_id, "cid": canonical_id, "t": entity_type, "d": dumps_text(data)},
    )


async def canonical_types(conn: Executor, customer_id: uuid.UUID, canonical_ids: list[str]) -> dict[str, str]:
    """canonical id -> entity type of those of the customer's objects that exist."""
    if not canonical_ids:
        return {}
    rows = await conn.execute(
        text(
            "SELECT id, entity_type FROM canonical_objects "
            "WHERE customer_id = :c AND id = ANY(:ids) AND deleted_at IS NULL"
        ),
        {"c": customer_id, "ids": canonical_ids},
    )
    return {str(r[0]): str(r[1]) for r in rows}


async def connected_platforms(conn: Executor, customer_id: uuid.UUID) -> list[str]:
    rows = await conn.execute(
        text("SELECT platform FROM connections WHERE customer_id = :c AND status = 'active' ORDER BY platform"),
        {"c": customer_id},
    )
    return [str(r[0]) for r in rows]


async def mapped_ids(conn: Executor, customer_id: uuid.UUID, canonical_ids: list[str]) -> list[tuple[str, str, str]]:
    """(canonical id, platform, platform id) of the objects' records on the active connections."""
    if not canonical_ids:
        return []
    rows = await conn.execute(
        text(
            f"SELECT m.canonical_id, m.platform, m.platform_id FROM {ACTIVE_MAPPING} "
            "WHERE m.customer_id = :c AND m.canonical_id = ANY(:ids) ORDER BY m.canonical_id, m.platform"
        ),
        {"c": customer_id, "ids": canonical_ids},
    )
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


async def canonical_state(
    conn: Executor, customer_id: uuid.UUID, canonical_id: str
) -> tuple[str, dict[str, Any], int] | None:
    row = (
        await conn.execute(
            # A deleted object is gone for creates: never made again on a platform, nor a parent to wait for.
            text(
                "SELECT entity_type, data, version FROM canonical_objects "
                "WHERE customer_id = :c AND id = :cid AND deleted_at IS NULL"
            ),
            {"c": customer_id, "cid": canonical_id},
        )
    ).one_or_none()
    return None if row is None else (str(row[0]), dict(row[1]), int(row[2]))


async def add_pending(
    conn: Executor, customer_id: uuid.UUID, canonical_id: str, source_platform: str, entity_type: str
) -> None:
    await conn.execute(
        text(
            "INSERT INTO pending_creates (customer_id, canonical_id, source_platform, entity_type) "
            "VALUES (:c, :cid, :p, :t) ON CONFLICT DO NOTHING"
        ),
        {"c": customer_id, "cid": canonical_id, "p": source_platform, "t": entity_type},
    )


async def pending(conn: Executor, customer_id: uuid.UUID, source_platform: str, entity_type: str) -> list[str]:
    """Registered records of a type still to be linked or created on the other platforms, oldest first."""
    rows = await conn.execute(
        text(
            "SELECT canonical_id FROM pending_creates WHERE customer_id = :c AND source_platform = :p "
            "AND entity_type = :t ORDER BY created_at, canonical_id"
        ),
        {"c": customer_id, "p": source_platform, "t": entity_type},
    )
    return [str(r[0]) for r in rows]


async def drop_pending(conn: Executor, customer_id: uuid.UUID, canonical_id: str) -> None:
    await conn.execute(
        text("DELETE FROM pending_creates WHERE customer_id = :c AND canonical_id = :cid"),
        {"c": customer_id, "cid": canonical_id},
    )


_RECORD_CREATE = text(
    """
    INSERT INTO propagations (id, customer_id, canonical_id, entity_type, format, source_platform, request,
                              request_hash, idempotency_key, status, canonical_version, updated_fields,
                              canonical_after, result)
    VALUES (:pid, :c, :cid, :t, :fmt, :src, CAST(:req AS jsonb), CAST(:req AS jsonb) ->> 'hash', :k, :s, :v,
            '[]'::jsonb, CAST(:after AS jsonb), CAST(:res AS jsonb))
    ON CONFLICT (id) DO UPDATE
       SET status = EXCLUDED.status, result = EXCLUDED.result, canonical_version = EXCLUDED.canonical_version,
           canonical_after = EXCLUDED.canonical_after, updated_at = now()
    """
)


async def record_create(
    conn: Executor,
    customer_id: uuid.UUID,
    propagation_id: str,
    *,
    canonical_id: str,
    entity_type: str,
    source_platform: str | None,
    request: dict[str, Any],
    status: str,
    version: int,
    data: dict[str, Any],
    result: dict[str, Any],
    idempotency_key: str | None = None,
    operation: str = "create",
) -> None:
    """The create (or delete: ``operation``) as a propagation of that format: what GET
    /propagations/{id} shows; a POST /objects keeps its Idempotency-Key and request hash there, as
    POST /propagate does."""
    await conn.execute(
        _RECORD_CREATE,
        {
            "fmt": operation,
            "pid": propagation_id,
            "c": customer_id,
            "cid": canonical_id,
            "t": entity_type,
            "src": source_platform,
            "req": dumps_text(request),
            "s": status,
            "v": version,
            "after": dumps_text(data),
            "res": dumps_text(result),
            "k": idempotency_key,
        },
    )


async def save_targets(
    conn: Executor, propagation_id: str, outcomes: Sequence[CreateTargetResult | DeleteTargetResult]
) -> None:
    for outcome in outcomes:
        await conn.execute(
            SAVE_TARGET,
            {
                "pid": propagation_id,
                "p": outcome.platform,
                "x": outcome.platform_id,
                "s": outcome.status,
                "td": None,
                "err": outcome.error,
                "cd": None,
            },
        )


async def active_generation(conn: Executor, customer_id: uuid.UUID, platform: str) -> int | None:
    value = (
        await conn.execute(
            text("SELECT generation FROM connections WHERE customer_id = :c AND platform = :p AND status = 'active'"),
            {"c": customer_id, "p": platform},
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)
