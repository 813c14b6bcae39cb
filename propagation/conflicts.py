"""The conflict queue: list, show and resolve the conflicts live writes left open.

A conflict is opened when a live write would have overwritten a change made on the platform (the
write is not made). Resolving it is a canonical-mode propagation with ``overwrite``: for the fields
kept from canonical it writes canonical's values over the platform's; for the fields taken from the
platform it first takes the platform's values into canonical, then fans them out to every platform.
Resolved once: a second resolution, or one of a conflict a later change made stale, is a 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.client import Client

from canonical.timefmt import iso_millis
from events import payloads
from propagation import service
from propagation.service import PropagateError
from store import conflicts as q
from store import events as events_q

Keep = Literal["canonical", "platform"]


def _stamp(value: datetime | None) -> str | None:
    return iso_millis(value) if value is not None else None


def summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """A conflict as the queue lists it: both sides' values of the fields that differ."""
    fields: list[str] = list(row["fields"])
    return {
        "id": row["id"],
        "status": row["status"],
        "canonical_id": row["canonical_id"],
        "entity_type": row["entity_type"],
        "platform": row["platform"],
        "platform_id": row["platform_id"],
        "propagation_id": row["propagation_id"],
        "fields": fields,
        "canonical_values": {f: row["canonical_values"].get(f) for f in fields},
        "platform_values": {f: row["platform_values"].get(f) for f in fields},
        "opened_at": _stamp(row["opened_at"]),
        "updated_at": _stamp(row["updated_at"]),
        "resolved_at": _stamp(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "resolution": row["resolution"],
        "closed_reason": row["closed_reason"],
    }


def detail(row: Mapping[str, Any]) -> dict[str, Any]:
    """A conflict with canonical's values now and the platform's record at conflict time and as
    last read (continuous sync keeps that copy current)."""
    body = summary(row)
    now = row["canonical_now"] or {}
    body["canonical_now"] = {f: now.get(f) for f in body["fields"]}
    body["canonical_deleted"] = row["canonical_deleted_at"] is not None
    body["platform_record"] = row["platform_record"]
    body["platform_record_now"] = row["platform_record_now"]
    body["platform_read_at"] = _stamp(row["platform_read_at"])
    return body


async def list_conflicts(
    conn: AsyncConnection,
    customer_id: uuid.UUID,
    *,
    platform: str | None,
    entity_type: str | None,
    status: str | None,
    after: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the queue (oldest first) and the cursor of the next page (None: the last page)."""
    rows = await q.list_conflicts(
        conn, customer_id, platform=platform, entity_type=entity_type, status=status, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return [summary(r) for r in rows], (int(rows[-1]["seq"]) if more and rows else None)


async def show(conn: AsyncConnection, customer_id: uuid.UUID, conflict: str) -> dict[str, Any]:
    row = await q.get_conflict(conn, customer_id, conflict)
    if row is None:
        raise PropagateError("not_found", f"No conflict {conflict}")
    return detail(row)


def decide(fields: list[str], keep: Keep, per_field: Mapping[str, Keep] | None) -> dict[str, Keep]:
    """Which side each differing field keeps (``per_field`` overrides ``keep``). Pure."""
    unknown = sorted(set(per_field or {}) - set(fields))
    if unknown:
        raise PropagateError(
            "validation", f"fields.{unknown[0]}: not a field of this conflict (its fields: {', '.join(fields)})"
        )
    return {f: (per_field or {}).get(f, keep) for f in fields}


async def resolve(
    conn: AsyncConnection,
    engine: AsyncEngine,
    customer_id: uuid.UUID,
    conflict: str,
    *,
    keep: Keep,
    per_field: Mapping[str, Keep] | None,
    by: str,
    temporal: Client,
    task_queue: str,
    wait_seconds: float,
    rate_limit: int,
    window_seconds: int,
) -> dict[str, Any]:
    """Resolve an open conflict; the conflict as resolved and the propagation that carried it out."""
    row = await q.get_conflict(conn, customer_id, conflict)
    if row is None:
        raise PropagateError("not_found", f"No conflict {conflict}")
    if row["status"] != "open":
        why = (
            f"resolved by {row['resolved_by']} at {_stamp(row['resolved_at'])}"
            if row["status"] == "resolved"
            else f"stale: {row['closed_reason']}"
        )
        raise PropagateError("conflict", f"Conflict {conflict} is not open ({why})")
    decisions = decide(list(row["fields"]), keep, per_field)
    patch = {f: row["platform_values"].get(f) for f, side in decisions.items() if side == "platform"}
    resolution = {"keep": keep, "fields": decisions}
    async with engine.begin() as tx:
        if not await q.resolve(tx, customer_id, conflict, by=by, resolution=resolution):
            raise PropagateError("conflict", f"Conflict {conflict} is not open (resolved meanwhile)")
        # With the resolution itself; the propagation carrying it out has its own events.
        await events_q.emit(
            tx,
            customer_id,
            "conflict.resolved",
            {**payloads.conflict(conflict, row), "resolved_by": by, "resolution": resolution},
            key=conflict,
        )
    command = service.PropagateCommand(
        customer_id=customer_id,
        entity_type=str(row["entity_type"]),
        format="canonical",
        data=patch,
        canonical_id=str(row["canonical_id"]),
        platform=None,
        platform_id=None,
        overwrite=True,
        # The resolution's propagation is keyed on the conflict: a retry of this call is the same one.
        idempotency_key=f"resolve-{conflict}",
        request={"resolve": conflict, "keep": keep, "fields": decisions, "data": patch},
    )
    found = await service.admit(conn, command, limit=rate_limit, window_seconds=window_seconds)
    await conn.close()
    try:
        result = await service.propagate(
            command, found, temporal=temporal, engine=engine, task_queue=task_queue, wait_seconds=wait_seconds
        )
    except PropagateError as err:
        if err.kind != "unavailable":  # refused: nothing was started, the conflict is open again
            async with engine.begin() as tx:
                await q.reopen(tx, conflict)
                await events_q.emit(
                    tx,
                    customer_id,
                    "conflict.opened",
                    {**payloads.conflict(conflict, row), "reopened": err.message},
                    key=f"{conflict}|reopened|{_stamp(datetime.now(UTC))}",
                )
        raise
    async with engine.begin() as tx:
        await q.record_resolution_outcome(
            tx, conflict, {"propagation_id": result["propagation_id"], "outcome": result["status"]}
        )
        resolved = await q.get_conflict(tx, customer_id, conflict)
        assert resolved is not None
    return {"conflict": detail(resolved), "propagation": result}
