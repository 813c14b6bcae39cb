"""Continuous sync of a live connection: a delta pass now (``POST /connections/{platform}/sync``) and on a
Temporal Schedule per live connection (``DELTA_SYNC_INTERVAL_SECONDS``), created after a live connect
and deleted with the customer."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import WorkflowIDConflictPolicy

from canonical.errors import ServiceError
from models.webhook import DeltaInput
from platforms.registry import names
from scheduling.reseed import delete_schedule
from store.objects import list_active_connections
from workflows.delta import DeltaSyncWorkflow, delta_workflow_id
from workflows.names import customer_platform


class SyncError(ServiceError):
    """A sync request for a connection that cannot sync."""


async def start_delta_pass(
    session: AsyncSession, temporal: Client, customer_id: uuid.UUID, platform: str, task_queue: str
) -> str:
    """Start a delta pass of the customer's live connection to ``platform`` (or join the one running);
    its workflow id. Only a connected live connection has a platform to read changes from."""
    connection = next((c for c in await list_active_connections(session, customer_id) if c["platform"] == platform), None)
    if connection is None:
        raise SyncError("not_found", f"no active {platform} connection; connect it first")
    if connection["mode"] != "live":
        raise SyncError("conflict", f"the {platform} connection is a sandbox: only live connections sync changes")
    customer = str(customer_id)
    workflow_id = delta_workflow_id(customer, platform)
    await temporal.start_workflow(
        DeltaSyncWorkflow.run,
        DeltaInput(customer_id=customer, platform=platform),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=customer_platform(customer, platform),
        static_summary=f"Delta pass of {platform}",
    )
    return workflow_id


def delta_schedule_id(customer_id: uuid.UUID | str, platform: str) -> str:
    return f"delta-sync-{customer_id}-{platform}"


async def ensure_delta_schedule(
    temporal: Client, customer_id: uuid.UUID, platform: str, interval_seconds: int, task_queue: str
) -> str | None:
    """The connection's delta pass every ``interval_seconds`` (a pass still running when the next is
    due: the next is skipped). Kept when it exists already; None when the interval is 0 (off)."""
    if interval_seconds <= 0:
        return None
    sid = delta_schedule_id(customer_id, platform)
    customer = str(customer_id)
    attributes = customer_platform(customer, platform)
    with contextlib.suppress(ScheduleAlreadyRunningError):  # a reconnect keeps the connection's schedule
        await temporal.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    DeltaSyncWorkflow.run,
                    DeltaInput(customer_id=customer, platform=platform),
                    id=delta_workflow_id(customer, platform),
                    task_queue=task_queue,
                    typed_search_attributes=attributes,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                state=ScheduleState(note=f"Delta pass of {platform} every {interval_seconds}s for customer {customer}"),
            ),
            search_attributes=attributes,
        )
    return sid


async def delete_delta_schedules(temporal: Client, customer_id: uuid.UUID) -> None:
    """A deleted customer's delta passes stop (every platform's; a missing one is no error)."""
    for platform in names():
        await delete_schedule(temporal, delta_schedule_id(customer_id, platform))
