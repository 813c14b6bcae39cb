"""Webhook deliveries: the record that a platform's notification was taken in (repeats are ignored)."""

from __future__ import annotations

import uuid

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
