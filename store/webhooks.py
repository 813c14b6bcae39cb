"""Webhook deliveries: the record that a platform's notification was taken in (repeats are ignored)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from canonical.jsonio import dumps_text

_RECORD = text(
    "INSERT INTO webhook_deliveries (customer_id, platform, delivery_key, held) "
    "VALUES (:c, :p, :d, CAST(:h AS jsonb)) ON CONFLICT DO NOTHING RETURNING 1"
)


async def record_delivery(
    session: AsyncSession,
    customer_id: uuid.UUID,
    platform: str,
    delivery_key: str,
    *,
    held: dict[str, Any] | None = None,
) -> bool:
    """Record a delivery (``held``: the change it announces, kept until sync resumes); False when it
    was recorded before (a platform's retry or a repeat)."""
    params = {"c": customer_id, "p": platform, "d": delivery_key, "h": None if held is None else dumps_text(held)}
    inserted = (await session.execute(_RECORD, params)).first()
    return inserted is not None


async def held_changes(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, *, limit: int = 1000
) -> list[tuple[str, dict[str, Any]]]:
    """Changes held while the connection was paused, oldest first: (delivery key, change)."""
    rows = await session.execute(
        text(
            "SELECT delivery_key, held FROM webhook_deliveries WHERE customer_id = :c AND platform = :p "
            "AND held IS NOT NULL ORDER BY received_at, delivery_key LIMIT :n"
        ),
        {"c": customer_id, "p": platform, "n": limit},
    )
    return [(str(key), dict(held)) for key, held in rows]


async def release_held(session: AsyncSession, customer_id: uuid.UUID, platform: str, keys: list[str]) -> None:
    """Held changes handed on: no longer held."""
    await session.execute(
        text(
            "UPDATE webhook_deliveries SET held = NULL WHERE customer_id = :c AND platform = :p "
            "AND delivery_key = ANY(:k)"
        ),
        {"c": customer_id, "p": platform, "k": keys},
    )


async def count_held(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> int:
    value = (
        await session.execute(
            text(
                "SELECT count(*) FROM webhook_deliveries WHERE customer_id = :c AND platform = :p AND held IS NOT NULL"
            ),
            {"c": customer_id, "p": platform},
        )
    ).scalar_one()
    return int(value)


_STORED = (
    "SELECT platform_id, data FROM platform_objects "
    "WHERE customer_id = :c AND platform = :p AND entity_type = :t"
)


async def stored_records(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str, platform_ids: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The platform records of a type as last stored (platform id -> native record): what a
    catch-up compares the platform's current records with. With ``platform_ids``, just those: what a
    delta pass compares what changed with, so its cost follows the changes, not the records kept."""
    params: dict[str, Any] = {"c": customer_id, "p": platform, "t": entity_type}
    if platform_ids is None:
        rows = await session.execute(text(_STORED), params)
    elif not platform_ids:
        return {}
    else:
        rows = await session.execute(
            text(_STORED + " AND platform_id = ANY(:ids)"), {**params, "ids": sorted(set(platform_ids))}
        )
    return {str(platform_id): data for platform_id, data in rows}
