"""Sliding-window rate limits: the `rate_limit_hit` function (migration 0001) and its log's upkeep."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_HIT = text("SELECT allowed, retry_after, remaining FROM rate_limit_hit(:b, :l, :w)")
_PURGE = text("DELETE FROM rate_limit_hits WHERE at < now() - make_interval(secs => :s)")


async def hit(session: AsyncSession, bucket: str, limit: int, window_seconds: int) -> tuple[bool, float, int]:
    """Record one request in `bucket` if under `limit` per window (one round trip): (allowed,
    seconds until a slot frees, slots left)."""
    row = (await session.execute(_HIT, {"b": bucket, "l": limit, "w": window_seconds})).one()
    return bool(row.allowed), float(row.retry_after), int(row.remaining)


async def purge(session: AsyncSession, older_than_seconds: int) -> int:
    """Drop log rows older than the longest window; returns how many."""
    result = await session.execute(_PURGE, {"s": older_than_seconds})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
