"""Housekeeping activities run on a Temporal schedule."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from models.maintenance import PurgeRateLimitsInput, PurgeRateLimitsResult


class MaintenanceActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    @activity.defn
    async def purge_rate_limit_hits(self, params: PurgeRateLimitsInput) -> PurgeRateLimitsResult:
        """Drop rate-limit log rows of buckets nobody hits any more (e.g. one-off client IPs)."""
        async with self._sessionmaker() as session:
            result = await session.execute(
                text("DELETE FROM rate_limit_hits WHERE at < now() - make_interval(secs => :s)"),
                {"s": params.older_than_seconds},
            )
            await session.commit()
        return PurgeRateLimitsResult(deleted=int(result.rowcount or 0))  # type: ignore[attr-defined]
