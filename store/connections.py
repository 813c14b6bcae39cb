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


async def sync_watermark(session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str) -> str | None:
    """The platform timestamp up to which a delta pass has read this type (None: never)."""
    value = (
        await session.execute(
            text(
                "SELECT settings #>> ARRAY['sync', 'watermarks', CAST(:t AS text)] FROM connections "
                "WHERE customer_id = :c AND platform = :p"
            ),
            {"c": customer_id, "p": platform, "t": entity_type},
        )
    ).scalar_one_or_none()
    return None if value is None else str(value)


async def save_sync_watermark(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, entity_type: str, watermark: str
) -> None:
    """Move the watermark forward (never back: a slower, older pass cannot rewind a newer one)."""
    await session.execute(
        text(
            """
            UPDATE connections
               SET settings = jsonb_set(
                       jsonb_set(settings, '{sync}', COALESCE(settings -> 'sync', '{}'::jsonb)),
                       ARRAY['sync', 'watermarks'],
                       COALESCE(settings #> '{sync,watermarks}', '{}'::jsonb)
                         || jsonb_build_object(CAST(:t AS text), CAST(:w AS text))),
                   updated_at = now()
             WHERE customer_id = :c AND platform = :p
               AND COALESCE(settings #>> ARRAY['sync', 'watermarks', CAST(:t AS text)], '') < :w
            """
        ),
        {"c": customer_id, "p": platform, "t": entity_type, "w": watermark},
    )
