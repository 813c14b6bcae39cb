"""Connection configuration: mode, public platform settings, encrypted credentials."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from canonical.jsonio import dumps_text


async def configure(
    session: AsyncSession,
    customer_id: uuid.UUID,
    platform: str,
    *,
    mode: str,
    live: dict[str, Any] | None,
    credentials: bytes | None,
) -> None:
    """Record how to reach the platform before a connect starts (the workflow never carries secrets)."""
    await session.execute(
        text(
            """
            INSERT INTO connections (id, customer_id, platform, mode, status, settings, credentials)
            VALUES (gen_random_uuid(), :c, :p, :m, 'seeding', CAST(:s AS jsonb), :cr)
            ON CONFLICT (customer_id, platform) DO UPDATE
               SET mode = EXCLUDED.mode, credentials = EXCLUDED.credentials, updated_at = now(),
                   settings = (connections.settings - 'live') || EXCLUDED.settings
            """
        ),
        {
            "c": customer_id,
            "p": platform,
            "m": mode,
            "s": dumps_text({"live": live} if live else {}),
            "cr": credentials,
        },
    )


async def live_config(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> Any:
    return (
        await session.execute(
            text(
                "SELECT mode, settings->'live' AS live, credentials FROM connections "
                "WHERE customer_id = :c AND platform = :p"
            ),
            {"c": customer_id, "p": platform},
        )
    ).first()
