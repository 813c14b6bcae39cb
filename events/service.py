"""Use cases behind /events and /webhook-endpoints: the pull feed, endpoints (created with a signing
secret shown once, changed, rotated, deleted), their delivery log, redeliveries.

Creating (or enabling) an endpoint starts its WebhookEndpointWorkflow; deleting or disabling it ends
the workflow at its next step (it reads the endpoint before each delivery).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from canonical.errors import ServiceError
from canonical.timefmt import iso_millis
from events import signing
from events.types import EVENT_TYPES
from events.urls import UnsafeUrlError, check_address
from models.events import EndpointInput
from settings import Settings
from store import events as q
from store.credentials import encrypt_text
from workflows.events import WebhookEndpointWorkflow, endpoint_workflow_id
from workflows.names import customer_platform


class EventsError(ServiceError):
    pass


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else iso_millis(value)


def event_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event as the feed serves it (the same fields a webhook body carries)."""
    return {
        "id": row["id"],
        "type": row["type"],
        "timestamp": iso_millis(row["occurred_at"]),
        "customer_id": str(row["customer_id"]),
        "data": row["data"],
    }


def endpoint_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "event_types": list(row["event_types"]),
        "enabled": row["enabled"],
        "disabled_reason": row["disabled_reason"],
        "failing_since": _stamp(row["failing_since"]),
        "failures": row["failures"],
        "previous_secret_expires_at": _stamp(row["previous_expires_at"]),
        "created_at": _stamp(row["created_at"]),
        "updated_at": _stamp(row["updated_at"]),
    }


def check_types(types: list[str] | None) -> list[str]:
    unknown = sorted(set(types or []) - set(EVENT_TYPES))
    if unknown:
        raise EventsError("validation", f"unknown event types: {', '.join(unknown)} (see GET /api/v1/event-types)")
    return sorted(set(types or []))


async def check_url(url: str, settings: Settings) -> str:
    try:
        await check_address(url, settings.webhook_hosts)
    except UnsafeUrlError as err:
        raise EventsError("validation", f"url: {err}") from err
    return url


# --- the feed -------------------------------------------------------------------------------------


async def feed(
    conn: AsyncConnection, customer_id: uuid.UUID, *, after: int, types: list[str] | None, limit: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """The customer's events after ``after``, in order: (events, the cursor to go on from, more?).
    The cursor moves past what was read even on a short page, so a poller goes on from it."""
    wanted = check_types(types) or None
    rows = await q.list_events(conn, customer_id, after=after, types=wanted, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [event_view(r) for r in rows], (int(rows[-1]["seq"]) if rows else after), more


# --- endpoints ------------------------------------------------------------------------------------


async def _start(temporal: Client, task_queue: str, customer_id: uuid.UUID, endpoint_id: str) -> None:
    workflow_id = endpoint_workflow_id(str(customer_id), endpoint_id)
    try:
        await temporal.start_workflow(
            WebhookEndpointWorkflow.run,
            EndpointInput(customer_id=str(customer_id), endpoint_id=endpoint_id),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=customer_platform(str(customer_id), "api"),
            static_summary=f"Deliver events to webhook endpoint {endpoint_id}",
        )
    except WorkflowAlreadyStartedError:
        await wake(temporal, customer_id, endpoint_id)


async def wake(temporal: Client, customer_id: uuid.UUID, endpoint_id: str) -> None:
    """Cut a running delivery workflow's retry wait short (nothing running: nothing to do)."""
    # Finished (deleted or disabled): nothing to wake; it starts again when enabled.
    with contextlib.suppress(RPCError):
        await temporal.get_workflow_handle(endpoint_workflow_id(str(customer_id), endpoint_id)).signal(
            WebhookEndpointWorkflow.wake
        )


async def create_endpoint(
    engine: AsyncEngine,
    temporal: Client,
    settings: Settings,
    customer_id: uuid.UUID,
    *,
    url: str,
    description: str | None,
    event_types: list[str] | None,
    enabled: bool,
) -> dict[str, Any]:
    """A new endpoint, with its signing secret (shown this once)."""
    types = check_types(event_types)
    await check_url(url, settings)
    endpoint_id = q.new_endpoint_id()
    secret = signing.new_secret()
    async with engine.begin() as conn:
        await q.create_endpoint(
            conn,
            customer_id,
            endpoint_id,
            url=url,
            description=description,
            event_types=types,
            enabled=enabled,
            secret=encrypt_text(settings, secret),
        )
        row = await q.get_endpoint(conn, customer_id, endpoint_id)
    assert row is not None
    if enabled:
        await _start(temporal, settings.task_queue, customer_id, endpoint_id)
    return {**endpoint_view(row), "secret": secret}


async def get_endpoint(conn: AsyncConnection, customer_id: uuid.UUID, endpoint_id: str) -> dict[str, Any]:
    row = await q.get_endpoint(conn, customer_id, endpoint_id)
    if row is None:
        raise EventsError("not_found", f"No webhook endpoint {endpoint_id}")
    return endpoint_view(row)


async def list_endpoints(conn: AsyncConnection, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    return [endpoint_view(r) for r in await q.list_endpoints(conn, customer_id)]


async def update_endpoint(
    engine: AsyncEngine,
    temporal: Client,
    settings: Settings,
    customer_id: uuid.UUID,
    endpoint_id: str,
    changes: dict[str, Any],
) -> dict[str, Any]:
    """Change url, description, event types or enabled; enabling starts delivery again from where
    the endpoint stopped (nothing it missed is skipped)."""
    if "event_types" in changes:
        changes["event_types"] = check_types(changes["event_types"])
    if "url" in changes:
        await check_url(changes["url"], settings)
    async with engine.begin() as conn:
        if not await q.update_endpoint(conn, customer_id, endpoint_id, changes):
            raise EventsError("not_found", f"No webhook endpoint {endpoint_id}")
        row = await q.get_endpoint(conn, customer_id, endpoint_id)
    assert row is not None
    if row["enabled"]:
        await _start(temporal, settings.task_queue, customer_id, endpoint_id)
    return endpoint_view(row)


async def rotate_secret(
    engine: AsyncEngine, settings: Settings, customer_id: uuid.UUID, endpoint_id: str
) -> dict[str, Any]:
    """A new signing secret (shown this once); the old one stays valid for the grace period, and
    deliveries carry both signatures meanwhile."""
    secret = signing.new_secret()
    until = datetime.now(UTC) + timedelta(seconds=settings.webhook_secret_grace_seconds)
    async with engine.begin() as conn:
        if not await q.rotate_secret(conn, customer_id, endpoint_id, encrypt_text(settings, secret), until):
            raise EventsError("not_found", f"No webhook endpoint {endpoint_id}")
        row = await q.get_endpoint(conn, customer_id, endpoint_id)
    assert row is not None
    return {**endpoint_view(row), "secret": secret}


async def delete_endpoint(engine: AsyncEngine, temporal: Client, customer_id: uuid.UUID, endpoint_id: str) -> None:
    async with engine.begin() as conn:
        if not await q.delete_endpoint(conn, customer_id, endpoint_id):
            raise EventsError("not_found", f"No webhook endpoint {endpoint_id}")
    await wake(temporal, customer_id, endpoint_id)  # it sees the endpoint gone and ends


async def deliveries(
    conn: AsyncConnection, customer_id: uuid.UUID, endpoint_id: str, *, event_id: str | None, after: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    if await q.get_endpoint(conn, customer_id, endpoint_id) is None:
        raise EventsError("not_found", f"No webhook endpoint {endpoint_id}")
    rows = await q.list_attempts(conn, customer_id, endpoint_id, event_id=event_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "event_id": r["event_id"],
            "event_type": r["event_type"],
            "attempt": r["attempt"],
            "at": iso_millis(r["at"]),
            "outcome": r["outcome"],
            "status_code": r["status_code"],
            "error": r["error"],
            "duration_ms": r["duration_ms"],
            "next_attempt_at": _stamp(r["next_attempt_at"]),
        }
        for r in rows
    ]
    return items, (int(rows[-1]["seq"]) if more else None)


async def redeliver(
    engine: AsyncEngine,
    temporal: Client,
    customer_id: uuid.UUID,
    endpoint_id: str,
    *,
    event_id: str | None,
    since: datetime | None,
) -> dict[str, Any]:
    """Deliver one event again, or every event since a time (in order, as first delivered: same ids
    and bodies). What the endpoint had not received yet is delivered anyway."""
    if (event_id is None) == (since is None):
        raise EventsError("validation", "give exactly one of event_id and since")
    async with engine.begin() as conn:
        endpoint = await q.get_endpoint(conn, customer_id, endpoint_id)
        if endpoint is None:
            raise EventsError("not_found", f"No webhook endpoint {endpoint_id}")
        if event_id is not None:
            event = await q.get_event(conn, customer_id, event_id)
            if event is None:
                raise EventsError("not_found", f"No event {event_id}")
            await q.queue_redelivery(conn, endpoint_id, int(event["seq"]))
            queued = 1
        else:
            assert since is not None
            if since.tzinfo is None:
                raise EventsError("validation", "since must carry a time zone (e.g. 2026-12-01T00:00:00Z)")
            first = await q.first_seq_since(conn, customer_id, since)
            queued = 0
            if first is not None:
                await q.rewind(conn, endpoint_id, first - 1)
                queued = await q.last_seq(conn, customer_id) - first + 1
    await wake(temporal, customer_id, endpoint_id)
    return {"endpoint_id": endpoint_id, "queued": queued, "enabled": endpoint["enabled"]}
