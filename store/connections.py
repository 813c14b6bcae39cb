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
    webhook_secret: tuple[bytes, str] | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Record how to reach the platform before a connect starts (the workflow never carries secrets).

    ``webhook_secret`` (encrypted, SHA-256) is kept only when the connection has none yet: a
    reconnect must not invalidate the subscriptions registered with the current one."""
    encrypted, digest = webhook_secret if webhook_secret else (None, None)
    await session.execute(
        text(
            """
            INSERT INTO connections (id, customer_id, platform, mode, status, settings, credentials,
                                     webhook_secret, webhook_secret_hash)
            VALUES (gen_random_uuid(), :c, :p, :m, 'seeding', CAST(:s AS jsonb), :cr, :ws, :wh)
            ON CONFLICT (customer_id, platform) DO UPDATE
               SET mode = EXCLUDED.mode, credentials = EXCLUDED.credentials, updated_at = now(),
                   settings = (connections.settings - 'live') || EXCLUDED.settings,
                   webhook_secret = COALESCE(connections.webhook_secret, EXCLUDED.webhook_secret),
                   webhook_secret_hash = COALESCE(connections.webhook_secret_hash, EXCLUDED.webhook_secret_hash)
            """
        ),
        {
            "c": customer_id,
            "p": platform,
            "m": mode,
            "s": dumps_text(({"live": live} if live else {}) | (options or {})),
            "cr": credentials,
            "ws": encrypted,
            "wh": digest,
        },
    )


async def webhook_connection(session: AsyncSession, secret_hash: str, platform: str) -> uuid.UUID | None:
    """The customer whose ``platform`` connection has this webhook secret (its SHA-256), if any."""
    value = (
        await session.execute(
            text("SELECT customer_id FROM connections WHERE webhook_secret_hash = :h AND platform = :p"),
            {"h": secret_hash, "p": platform},
        )
    ).scalar_one_or_none()
    return value if isinstance(value, uuid.UUID) else None


async def encrypted_webhook_secret(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> bytes | None:
    value = (
        await session.execute(
            text("SELECT webhook_secret FROM connections WHERE customer_id = :c AND platform = :p"),
            {"c": customer_id, "p": platform},
        )
    ).scalar_one_or_none()
    return bytes(value) if value is not None else None


async def sync_state(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> dict[str, Any]:
    """The connection's continuous-sync state (``settings.sync``): watermarks, paused, subscriptions,
    last pass, changes applied. Empty when the connection never synced (or does not exist)."""
    value = (
        await session.execute(
            text("SELECT settings -> 'sync' FROM connections WHERE customer_id = :c AND platform = :p"),
            {"c": customer_id, "p": platform},
        )
    ).scalar_one_or_none()
    return dict(value) if isinstance(value, dict) else {}


async def merge_sync_state(
    session: AsyncSession, customer_id: uuid.UUID, platform: str, patch: dict[str, Any], *, count: int = 0
) -> bool:
    """Merge ``patch`` into the connection's sync state (top-level keys replaced) and add ``count``
    to its changes-applied counter; False when there is no such connection."""
    result = await session.execute(
        text(
            """
            UPDATE connections
               SET settings = jsonb_set(
                       settings, '{sync}',
                       COALESCE(settings -> 'sync', '{}'::jsonb) || CAST(:patch AS jsonb)
                         || jsonb_build_object('applied',
                              COALESCE((settings #>> '{sync,applied}')::bigint, 0) + :n)),
                   updated_at = now()
             WHERE customer_id = :c AND platform = :p
            RETURNING 1
            """
        ),
        {"c": customer_id, "p": platform, "patch": dumps_text(patch), "n": count},
    )
    return result.first() is not None


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


async def connection_row(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> dict[str, Any] | None:
    """The connection's status and mode, locked for the rest of the transaction (a disconnect and a
    connect of the same platform do not interleave)."""
    row = (
        await session.execute(
            text("SELECT status, mode FROM connections WHERE customer_id = :c AND platform = :p FOR UPDATE"),
            {"c": customer_id, "p": platform},
        )
    ).one_or_none()
    return dict(row._mapping) if row else None


async def delete_connection(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> None:
    """Forget a platform connection: its settings, credentials and webhook secret, its records and
    mappings, and the notifications still held for it. Canonical objects and the propagation history
    stay (the other platforms still map them; a later connect reconciles against them again)."""
    params = {"c": customer_id, "p": platform}
    for table in ("entity_mappings", "platform_objects", "webhook_deliveries", "connections"):
        await session.execute(text(f"DELETE FROM {table} WHERE customer_id = :c AND platform = :p"), params)


async def set_options(session: AsyncSession, customer_id: uuid.UUID, platform: str, options: dict[str, Any]) -> bool:
    """Merge ``options`` (top-level settings such as ``delete_policy``) into an active connection's
    settings; False when there is no such connection."""
    result = await session.execute(
        text(
            "UPDATE connections SET settings = settings || CAST(:o AS jsonb), updated_at = now() "
            "WHERE customer_id = :c AND platform = :p AND status = 'active' RETURNING 1"
        ),
        {"c": customer_id, "p": platform, "o": dumps_text(options)},
    )
    return result.first() is not None


async def set_sandbox_outage(session: AsyncSession, customer_id: uuid.UUID, platform: str, writes: int) -> str | None:
    """Make the next ``writes`` write attempts to a sandbox connection fail (0: none); the
    connection's mode (None: no active connection; only a sandbox one is changed)."""
    row = (
        await session.execute(
            text(
                """
                UPDATE connections
                   SET settings = jsonb_set(settings, '{sandbox}',
                                            COALESCE(settings -> 'sandbox', '{}'::jsonb)
                                            || jsonb_build_object('fail_writes', CAST(:n AS int))),
                       updated_at = now()
                 WHERE customer_id = :c AND platform = :p AND status = 'active' AND mode = 'sandbox'
                RETURNING mode
                """
            ),
            {"c": customer_id, "p": platform, "n": writes},
        )
    ).first()
    if row is not None:
        return str(row[0])
    mode = (
        await session.execute(
            text("SELECT mode FROM connections WHERE customer_id = :c AND platform = :p AND status = 'active'"),
            {"c": customer_id, "p": platform},
        )
    ).scalar_one_or_none()
    return None if mode is None else str(mode)


async def connection_rules(session: Any, customer_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """The conflict rules and directions of each of the customer's active connections."""
    rows = await session.execute(
        text(
            "SELECT platform, jsonb_build_object('rules', settings -> 'rules', 'directions', settings -> 'directions') "
            "FROM connections WHERE customer_id = :c AND status = 'active' ORDER BY platform"
        ),
        {"c": customer_id},
    )
    return {str(r[0]): dict(r[1]) for r in rows}
