"""Webhook deliveries: the record that a platform's notification was taken in (repeats are ignored)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_RECORD = text(
    "INSERT INTO webhook_deliveries (customer_id, platform, delivery_key) VALUES (:c, :p, :d) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)


async def record_delivery(session: AsyncSession, customer_id: uuid.UUID, platform: str, delivery_key: str) -> bool:
    """Record a delivery; False when it was recorded before (a platform's retry or a repeat)."""
    inserted = (await session.execute(_RECORD, {"c": customer_id, "p": platform, "d": delivery_key})).first()
    return inserted is not None


_STORED = text(
    "SELECT platform_id, data FROM platform_objects "
    "WHERE customer_id = :c AND platform = :p AND entity_type = :t"
)


async def stored_records(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str
) -> dict[str, dict[str, Any]]:
    """The platform records of a type as last stored (platform id -> native record): what a
    catch-up compares the platform's current records with."""
    rows = await session.execute(_STORED, {"c": customer_id, "p": platform, "t": entity_type})
    return {str(platform_id): data for platform_id, data in rows}
