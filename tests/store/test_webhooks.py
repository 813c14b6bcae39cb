"""Webhook deliveries are recorded once per customer, platform and delivery key (real PostgreSQL)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.customers import create_customer
from store.webhooks import record_delivery


async def test_a_delivery_is_new_once(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        first = (await create_customer(s, name="hooks-a", environment="test")).customer_id
        second = (await create_customer(s, name="hooks-b", environment="test")).customer_id
        await s.commit()
        assert await record_delivery(s, first, "procore", "01J-ulid")
        assert not await record_delivery(s, first, "procore", "01J-ulid")  # a platform's retry
        assert await record_delivery(s, first, "dynamics", "01J-ulid")  # another platform's key space
        assert await record_delivery(s, second, "procore", "01J-ulid")  # customers are isolated
        await s.commit()
