"""Read side: connections and objects as the API shows them (active generations only)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def list_active_connections(session: AsyncSession, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            """
            SELECT c.platform, c.status, c.mode, c.connected_at, c.settings -> 'sync' AS sync,
                   COALESCE(c.settings ->> 'delete_policy', 'tombstone_only') AS delete_policy,
                   COALESCE(c.settings -> 'rules', '{}'::jsonb) AS rules,
                   COALESCE(c.settings -> 'directions', '{}'::jsonb) AS directions,
                   (SELECT count(*) FROM entity_mappings m
                     WHERE m.customer_id = c.customer_id AND m.platform = c.platform
                       AND m.generation = c.generation) AS entities_synced,
                   (SELECT count(*) FROM webhook_deliveries w
                     WHERE w.customer_id = c.customer_id AND w.platform = c.platform
                       AND w.held IS NOT NULL) AS held
              FROM connections c
             WHERE c.customer_id = :c AND c.status = 'active'
             ORDER BY c.platform
            """
        ),
        {"c": customer_id},
    )
    return [dict(r._mapping) for r in rows]


async def connection_status(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> str | None:
    return (
        await session.execute(
            text("SELECT status FROM connections WHERE customer_id = :c AND platform = :p"),
            {"c": customer_id, "p": platform},
        )
    ).scalar_one_or_none()


async def list_objects(
    session: AsyncSession,
    customer_id: uuid.UUID,
    platform: str,
    entity_type: str,
    *,
    after: int = 0,
    limit: int | None = None,
    include_deleted: bool = False,
) -> list[dict[str, Any]]:
    """Objects of one platform and type with their canonical view and every active mapping."""
    rows = await session.execute(
        text(
            f"""
            SELECT po.id AS row_id, po.platform_id, po.data AS platform_data, m.canonical_id,
                   co.data AS canonical_data,
                   to_char(co.deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS deleted_at,
                   co.deleted_by,
                   (SELECT jsonb_agg(jsonb_build_object('platform', m2.platform, 'platform_id', m2.platform_id)
                                     ORDER BY m2.platform)
                      FROM entity_mappings m2
                      JOIN connections c2 ON c2.customer_id = m2.customer_id AND c2.platform = m2.platform
                                         AND c2.generation = m2.generation
                     WHERE m2.customer_id = m.customer_id AND m2.canonical_id = m.canonical_id) AS mappings
              FROM connections cn
              JOIN platform_objects po ON po.customer_id = cn.customer_id AND po.platform = cn.platform
                                      AND po.generation = cn.generation
              JOIN entity_mappings m ON m.customer_id = po.customer_id AND m.platform = po.platform
                                    AND m.entity_type = po.entity_type AND m.platform_id = po.platform_id
                                    AND m.generation = po.generation
              JOIN canonical_objects co ON co.customer_id = m.customer_id AND co.id = m.canonical_id
             WHERE cn.customer_id = :c AND cn.platform = :p AND cn.generation > 0
               AND po.entity_type = :t AND po.id > :after
               AND (CAST(:deleted AS boolean) OR co.deleted_at IS NULL)
             ORDER BY po.id
             {"LIMIT :limit" if limit is not None else ""}
            """
        ),
        {"c": customer_id, "p": platform, "t": entity_type, "after": after, "limit": limit, "deleted": include_deleted},
    )
    return [dict(r._mapping) for r in rows]
