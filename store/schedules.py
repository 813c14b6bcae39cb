"""Who owns which re-seed schedule (`reseed_schedules`), so deleting a customer deletes its schedules."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables import ReseedSchedule


async def add(session: AsyncSession, schedule_id: str, customer_id: uuid.UUID, platform: str, interval_seconds: int) -> None:
    session.add(
        ReseedSchedule(
            schedule_id=schedule_id, customer_id=customer_id, platform=platform, interval_seconds=interval_seconds
        )
    )
    await session.flush()


async def for_customer(session: AsyncSession, customer_id: uuid.UUID) -> list[ReseedSchedule]:
    rows = await session.execute(
        select(ReseedSchedule).where(ReseedSchedule.customer_id == customer_id).order_by(ReseedSchedule.platform)
    )
    return list(rows.scalars())


async def ids_for_customer(session: AsyncSession, customer_id: uuid.UUID) -> list[str]:
    rows = await session.execute(select(ReseedSchedule.schedule_id).where(ReseedSchedule.customer_id == customer_id))
    return list(rows.scalars())


async def remove(session: AsyncSession, customer_id: uuid.UUID, schedule_id: str) -> bool:
    """Delete the row; False when there was none."""
    result = await session.execute(
        delete(ReseedSchedule).where(ReseedSchedule.customer_id == customer_id, ReseedSchedule.schedule_id == schedule_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
