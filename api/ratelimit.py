"""Sliding-window rate limits whose state lives in PostgreSQL, shared by every API process."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ApiError, ErrorType
from store import rate_limits

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int
    remaining: int


async def hit(session: AsyncSession, bucket: str, limit: int, window_seconds: int = WINDOW_SECONDS) -> RateDecision:
    """Record one request in `bucket` if under `limit` per window (one round trip, see migration 0001)."""
    allowed, retry_after, remaining = await rate_limits.hit(session, bucket, limit, window_seconds)
    return decision(allowed, retry_after, remaining)


def decision(allowed: bool, retry_after: float, remaining: int) -> RateDecision:
    """A decision from the columns of `rate_limit_hit` (a route may call it inside a larger statement)."""
    return RateDecision(allowed=allowed, retry_after=max(1, math.ceil(retry_after)), remaining=remaining)


def check(decision: RateDecision, limit: int, window_seconds: int = WINDOW_SECONDS) -> None:
    if not decision.allowed:
        raise ApiError(
            ErrorType.RATE_LIMIT_ERROR,
            f"Too many requests: limit is {limit} per {window_seconds} seconds",
            headers={"Retry-After": str(decision.retry_after)},
        )


async def enforce(session: AsyncSession, bucket: str, limit: int, window_seconds: int = WINDOW_SECONDS) -> None:
    result = await hit(session, bucket, limit, window_seconds)
    # The hit is committed even when the caller's request later fails: attempts count.
    await session.commit()
    check(result, limit, window_seconds)
