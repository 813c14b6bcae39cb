"""Removing a connection, or a whole customer: nothing of it keeps running or listening.

A live connection has registrations on the platform (Procore hook and triggers, BC subscriptions)
and Temporal Schedules (delta pass, subscription check, re-seed). They go first, while the
connection's credentials still exist to delete them with; the rows go last. A platform that
cannot be reached keeps the connection (503, try again) unless the caller forces it, in which
case the answer says what was left on the platform.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from canonical.errors import ServiceError
from scheduling import reseed
from scheduling.sync import delete_sync_schedules, delete_sync_schedules_of, ensure_sync, remove_subscriptions
from settings import Settings
from store.connections import connection_row, delete_connection
from store.customers import delete_customer
from store.objects import list_active_connections


class DisconnectError(ServiceError):
    """A connection that cannot be removed now."""


@dataclass(frozen=True)
class Disconnected:
    platform: str
    subscriptions_removed: int
    # Why registrations may still be on the platform (refused, unreachable and forced); None: none left.
    subscriptions_left: str | None = None


async def _unregister(
    temporal: Client, settings: Settings, customer_id: uuid.UUID, platform: str
) -> tuple[int, str | None]:
    try:
        result = await remove_subscriptions(temporal, settings, customer_id, platform)
    except (WorkflowFailureError, RPCError) as err:
        cause = err.cause if isinstance(err, WorkflowFailureError) and err.cause else err
        return 0, f"the {platform} subscriptions could not be removed: {cause}"
    return result.removed, result.reason or None


async def disconnect(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    customer_id: uuid.UUID,
    platform: str,
    *,
    force: bool = False,
) -> Disconnected:
    """Remove the customer's connection to ``platform``: its subscriptions on the platform, its
    schedules, its credentials, records and mappings."""
    row = await connection_row(session, customer_id, platform)
    if row is None:
        raise DisconnectError("not_found", f"no {platform} connection")
    if row["status"] == "seeding":
        raise DisconnectError("conflict", f"a connect of {platform} is running; disconnect when it has finished")
    # Its schedules first: no check re-registers what is being removed.
    await delete_sync_schedules_of(temporal, customer_id, platform)
    removed, left = 0, None
    if row["mode"] == "live":
        removed, left = await _unregister(temporal, settings, customer_id, platform)
        if left is not None and not force:
            # Keep everything as it was: the connection still syncs, and a retry can remove it.
            await session.rollback()
            await ensure_sync(temporal, settings, customer_id, platform)
            raise DisconnectError(
                "unavailable", f"{left}; the connection is kept: try again, or force=true to remove it anyway"
            )
    await reseed.delete_one(temporal, session, customer_id, platform)
    await delete_connection(session, customer_id, platform)
    await session.commit()
    return Disconnected(platform=platform, subscriptions_removed=removed, subscriptions_left=left)


async def remove_customer(session: AsyncSession, temporal: Client, settings: Settings, customer_id: uuid.UUID) -> None:
    """Delete a customer with everything it owns, its registrations on the platforms first (forced:
    a customer who is leaving is not kept because a platform is down; what was left is logged by the
    SubscriptionsWorkflow, whose notifications will then find no connection and change nothing)."""
    # Schedules live in Temporal, outside the cascade: they go first, so none fires for a ghost.
    await delete_sync_schedules(temporal, customer_id)
    await reseed.delete_all_for_customer(temporal, session, customer_id)
    for connection in await list_active_connections(session, customer_id):
        if connection["mode"] == "live":
            await _unregister(temporal, settings, customer_id, str(connection["platform"]))
    await delete_customer(session, customer_id)
