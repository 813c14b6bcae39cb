"""Housekeeping activities run on a Temporal schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from models.maintenance import PurgeRateLimitsInput, PurgeRateLimitsResult
from store import events, rate_limits


class MaintenanceActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn
    async def purge_rate_limit_hits(self, params: PurgeRateLimitsInput) -> PurgeRateLimitsResult:
        """Drop rate-limit log rows of buckets nobody hits any more (e.g. one-off client IPs)."""
        async with self._sessionmaker() as session:
            deleted = await rate_limits.purge(session, params.older_than_seconds)
            await session.commit()
        return PurgeRateLimitsResult(deleted=deleted)

    @activity.defn
    async def purge_events(self, retention_days: int) -> int:
        """Drop events and delivery attempts older than the retention (the feed keeps 30 days at least)."""
        async with self._sessionmaker() as session:
            deleted = await events.purge_events(session, datetime.now(UTC) - timedelta(days=retention_days))
            await session.commit()
        return deleted
