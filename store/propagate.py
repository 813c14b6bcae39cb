"""SQL of the propagate path. Helpers never commit; activities own the transactions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from canonical.jsonio import dumps_text

ACTIVE_MAPPING = """
    entity_mappings m
    JOIN connections cn ON cn.customer_id = m.customer_id AND cn.platform = m.platform
                       AND cn.generation = m.generation
"""


def _json(value: Any) -> str:
    return dumps_text(value)


async def load_canonical(session: AsyncSession, customer_id: uuid.UUID, canonical_id: str) -> Any:
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
    session: AsyncSession, customer_id: uuid.UUID, platform: str, platform_id: str
) -> Any:
    """The mapping of a native id on an active connection, with the stored native record."""
    return (
        await session.execute(
            text(
                f"""
                SELECT m.canonical_id, m.entity_type, po.data AS native
                  FROM {ACTIVE_MAPPING}
                  JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                                          AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                                          AND po.generation = m.generation
                 WHERE m.customer_id = :c AND m.platform = :p AND m.platform_id = :pid
                """
            ),
            {"c": customer_id, "p": platform, "pid": platform_id},
        )
    ).first()


async def by_idempotency_key(session: AsyncSession, customer_id: uuid.UUID, key: str) -> Any:
    return (
        await session.execute(
            text(
                "SELECT id, request_hash, status, result FROM propagations WHERE customer_id = :c "
                "AND idempotency_key = :k"
            ),
            {"c": customer_id, "k": key},
        )
    ).first()


async def existing_update(session: AsyncSession, propagation_id: str) -> Any:
    return (
        await session.execute(
            text("SELECT canonical_version, updated_fields, canonical_after FROM propagations WHERE id = :id"),
            {"id": propagation_id},
        )
    ).first()


async def lock_canonical(session: AsyncSession, customer_id: uuid.UUID, canonical_id: str) -> Any:
    """Row lock: concurrent propagations to one entity are applied in one serial order."""
    return (
        await session.execute(
            text("SELECT data, version FROM canonical_objects WHERE customer_id = :c AND id = :id FOR UPDATE"),
            {"c": customer_id, "id": canonical_id},
        )
    ).first()


async def save_canonical(
    session: AsyncSession, customer_id: uuid.UUID, canonical_id: str, data: dict[str, Any], version: int
) -> None:
    await session.execute(
        text(
            "UPDATE canonical_objects SET data = CAST(:d AS jsonb), version = :v, updated_at = now() "
            "WHERE customer_id = :c AND id = :id"
        ),
        {"c": customer_id, "id": canonical_id, "d": _json(data), "v": version},
    )


async def insert_propagation(
    session: AsyncSession,
    *,
    propagation_id: str,
    customer_id: uuid.UUID,
    canonical_id: str,
    entity_type: str,
    format_: str,
    source_platform: str | None,
    idempotency_key: str | None,
    request_hash: str | None,
    request: dict[str, Any],
    status: str,
    version: int,
    updated_fields: list[str],
    canonical_after: dict[str, Any],
) -> None:
    await session.execute(
        text(
            """
            INSERT INTO propagations (id, customer_id, canonical_id, entity_type, format, source_platform,
                                      idempotency_key, request_hash, request, status, canonical_version,
                                      updated_fields, canonical_after)
            VALUES (:id, :c, :cid, :t, :f, :sp, :k, :h, CAST(:req AS jsonb), :s, :v, CAST(:uf AS jsonb),
                    CAST(:after AS jsonb))
            """
        ),
        {
            "id": propagation_id,
            "c": customer_id,
            "cid": canonical_id,
            "t": entity_type,
            "f": format_,
            "sp": source_platform,
            "k": idempotency_key,
            "h": request_hash,
            "req": _json(request),
            "s": status,
            "v": version,
            "uf": _json(updated_fields),
            "after": _json(canonical_after),
        },
    )


async def fan_out_targets(
    session: AsyncSession, customer_id: uuid.UUID, canonical_id: str, exclude: str | None
) -> list[str]:
    rows = await session.execute(
        text(
            f"SELECT DISTINCT m.platform FROM {ACTIVE_MAPPING} WHERE m.customer_id = :c AND m.canonical_id = :id "
            "AND m.platform IS DISTINCT FROM :x ORDER BY m.platform"
        ),
        {"c": customer_id, "id": canonical_id, "x": exclude},
    )
    return [r.platform for r in rows]


async def connection_modes(session: AsyncSession, customer_id: uuid.UUID, platforms: list[str]) -> dict[str, str]:
    rows = await session.execute(
        text("SELECT platform, mode FROM connections WHERE customer_id = :c AND platform = ANY(:p)"),
        {"c": customer_id, "p": platforms},
    )
    return {r.platform: r.mode for r in rows}


async def lock_target(session: AsyncSession, customer_id: uuid.UUID, canonical_id: str, platform: str) -> Any:
    """The target platform record of a fan-out, locked for this transaction."""
    return (
        await session.execute(
            text(
                f"""
                SELECT po.id AS row_id, po.platform_id, po.data, po.applied_version, po.etag
                  FROM {ACTIVE_MAPPING}
                  JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                                          AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                                          AND po.generation = m.generation
                 WHERE m.customer_id = :c AND m.canonical_id = :id AND m.platform = :p
                 ORDER BY po.id LIMIT 1
                   FOR UPDATE OF po
                """
            ),
            {"c": customer_id, "id": canonical_id, "p": platform},
        )
    ).first()


async def lock_source(session: AsyncSession, customer_id: uuid.UUID, platform: str, platform_id: str) -> Any:
    return (
        await session.execute(
            text(
                f"""
                SELECT po.id AS row_id, po.data, po.applied_version
                  FROM {ACTIVE_MAPPING}
                  JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                                          AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                                          AND po.generation = m.generation
                 WHERE m.customer_id = :c AND m.platform = :p AND m.platform_id = :pid
                   FOR UPDATE OF po
                """
            ),
            {"c": customer_id, "p": platform, "pid": platform_id},
        )
    ).first()


async def fields_between(
    session: AsyncSession, customer_id: uuid.UUID, canonical_id: str, after: int, upto: int
) -> set[str]:
    """Canonical fields changed by the propagations of versions (after, upto]: what a fan-out of
    `upto` must bring a record that last saw `after` up to date on."""
    rows = await session.execute(
        text(
            "SELECT updated_fields FROM propagations WHERE customer_id = :c AND canonical_id = :id "
            "AND canonical_version > :a AND canonical_version <= :u"
        ),
        {"c": customer_id, "id": canonical_id, "a": after, "u": upto},
    )
    fields: set[str] = set()
    for r in rows:
        fields.update(r.updated_fields or [])
    return fields


async def snapshot_at(session: AsyncSession, customer_id: uuid.UUID, canonical_id: str, version: int) -> Any:
    return (
        await session.execute(
            text(
                "SELECT canonical_after FROM propagations WHERE customer_id = :c AND canonical_id = :id "
                "AND canonical_version = :v AND jsonb_array_length(updated_fields) > 0"
            ),
            {"c": customer_id, "id": canonical_id, "v": version},
        )
    ).scalar_one_or_none()


async def native_ids(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, canonical_ids: Iterable[str]
) -> list[Any]:
    """Target-platform ids (and project numbers) of referenced canonical objects."""
    ids = list(canonical_ids)
    if not ids:
        return []
    rows = await session.execute(
        text(
            f"""
            SELECT m.entity_type, m.canonical_id, m.platform_id,
                   CASE WHEN m.entity_type = 'project'
                        THEN COALESCE(po.data->>'project_number', po.data->>'number') END AS number
              FROM {ACTIVE_MAPPING}
              JOIN platform_objects po ON po.customer_id = m.customer_id AND po.platform = m.platform
                                      AND po.entity_type = m.entity_type AND po.platform_id = m.platform_id
                                      AND po.generation = m.generation
             WHERE m.customer_id = :c AND m.platform = :p AND m.canonical_id = ANY(:ids)
            """
        ),
        {"c": customer_id, "p": platform, "ids": ids},
    )
    return list(rows)


async def write_platform_object(
    session: AsyncSession,
    row_id: int,
    data: dict[str, Any],
    version: int,
    etag: str | None = None,
    remote_updated_at: str | None = None,
) -> None:
    await session.execute(
        text(
            "UPDATE platform_objects SET data = CAST(:d AS jsonb), applied_version = GREATEST(applied_version, :v), "
            "etag = COALESCE(:e, etag), remote_updated_at = COALESCE(:u, remote_updated_at), updated_at = now() "
            "WHERE id = :id"
        ),
        {"id": row_id, "d": _json(data), "v": version, "e": etag, "u": remote_updated_at},
    )


async def log_write(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    propagation_id: str,
    platform: str,
    platform_id: str,
    version: int,
    fields: list[str],
) -> bool:
    """Record one effective write; False if this propagation already wrote this platform."""
    result = await session.execute(
        text(
            "INSERT INTO platform_writes (customer_id, propagation_id, platform, platform_id, canonical_version, "
            "fields) VALUES (:c, :pid, :p, :x, :v, CAST(:f AS jsonb)) "
            "ON CONFLICT (propagation_id, platform) DO NOTHING"
        ),
        {"c": customer_id, "pid": propagation_id, "p": platform, "x": platform_id, "v": version, "f": _json(fields)},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def target_outcome(session: AsyncSession, propagation_id: str, platform: str) -> Any:
    return (
        await session.execute(
            text(
                "SELECT status, platform_id, data, error, conflict_data FROM propagation_targets "
                "WHERE propagation_id = :id AND platform = :p"
            ),
            {"id": propagation_id, "p": platform},
        )
    ).first()


async def save_target(
    session: AsyncSession,
    propagation_id: str,
    platform: str,
    *,
    status: str,
    platform_id: str | None,
    data: str | None,
    error: str | None,
    conflict_data: str | None,
) -> None:
    """`data` and `conflict_data` are JSON text (exact decimals, see models.propagate.FanOutResult)."""
    await session.execute(
        text(
            """
            INSERT INTO propagation_targets (propagation_id, platform, platform_id, status, attempts, data, error,
                                             conflict_data)
            VALUES (:id, :p, :pid, :s, 1, CAST(:d AS jsonb), :e, CAST(:cd AS jsonb))
            ON CONFLICT (propagation_id, platform) DO UPDATE
               SET status = EXCLUDED.status, platform_id = EXCLUDED.platform_id, data = EXCLUDED.data,
                   error = EXCLUDED.error, conflict_data = EXCLUDED.conflict_data,
                   attempts = propagation_targets.attempts + 1, updated_at = now()
             -- a late interim `pending` report never overwrites a final outcome
             WHERE propagation_targets.status = 'pending' OR EXCLUDED.status <> 'pending'
            """
        ),
        {
            "id": propagation_id,
            "p": platform,
            "pid": platform_id,
            "s": status,
            "d": data,
            "e": error,
            "cd": conflict_data,
        },
    )


async def finish(session: AsyncSession, propagation_id: str, status: str, result: dict[str, Any]) -> None:
    await session.execute(
        text("UPDATE propagations SET status = :s, result = CAST(:r AS jsonb), updated_at = now() WHERE id = :id"),
        {"id": propagation_id, "s": status, "r": _json(result)},
    )


async def get_propagation(session: AsyncSession, customer_id: uuid.UUID, propagation_id: str) -> Any:
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


async def get_targets(session: AsyncSession, propagation_id: str) -> list[Any]:
    rows = await session.execute(
        text(
            "SELECT platform, platform_id, status, attempts, error, conflict_data, updated_at "
            "FROM propagation_targets WHERE propagation_id = :id ORDER BY platform"
        ),
        {"id": propagation_id},
    )
    return list(rows)
