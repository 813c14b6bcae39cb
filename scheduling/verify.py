"""Verify runs of a live connection: start one (a VerifyWorkflow), read its report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from canonical.timefmt import iso_millis
from models.verify import VerifyInput
from scheduling.sync import SyncError, live_connection
from store import verify as q
from workflows.names import customer_platform
from workflows.verify import VerifyWorkflow, verify_workflow_id


async def start_verify(
    session: AsyncSession, temporal: Client, customer_id: uuid.UUID, platform: str, task_queue: str, *, repair: bool
) -> str:
    """Start a verify run of the customer's live connection to ``platform``; its id (also its workflow's)."""
    await live_connection(session, customer_id, platform)
    customer = str(customer_id)
    run_id = verify_workflow_id(customer, platform, datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6])
    # The report exists (running) from the answer on, before a worker picks the run up.
    await q.create_run(session, run_id, customer_id, platform, repair=repair)
    await session.commit()
    await temporal.start_workflow(
        VerifyWorkflow.run,
        VerifyInput(customer_id=customer, platform=platform, run_id=run_id, repair=repair),
        id=run_id,
        task_queue=task_queue,
        search_attributes=customer_platform(customer, platform),
        static_summary=f"Verify {platform}" + (" and repair" if repair else ""),
    )
    return run_id


def _stamp(value: datetime | None) -> str | None:
    return iso_millis(value) if value is not None else None


async def report(
    session: AsyncSession,
    customer_id: uuid.UUID,
    run_id: str,
    *,
    entity_type: str | None,
    status: str | None,
    after: int,
    limit: int,
) -> dict[str, Any]:
    """The run's counts per entity type and a page of the records that are not in sync (``next_after``:
    the row the next page starts after, None on the last)."""
    run = await q.get_run(session, customer_id, run_id)
    if run is None:
        raise SyncError("not_found", f"No verify run {run_id}")
    rows = await q.list_records(
        session, run_id, entity_type=entity_type, status=status, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "id": run["id"],
        "platform": run["platform"],
        "status": run["status"],
        "repair": run["repair"],
        "error": run["error"],
        "started_at": _stamp(run["started_at"]),
        "finished_at": _stamp(run["finished_at"]),
        "counts": run["counts"],
        "records": [
            {
                "entity_type": r["entity_type"],
                "canonical_id": r["canonical_id"],
                "platform_id": r["platform_id"],
                "status": r["status"],
                "fields": r["fields"],
                "platform_modified": r["platform_modified"],
                "repaired": r["repaired"],
            }
            for r in rows
        ],
        "next_after": int(rows[-1]["seq"]) if more and rows else None,
    }
