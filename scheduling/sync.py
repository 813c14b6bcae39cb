"""Continuous sync of a live connection: start a delta pass now (``POST /connections/{platform}/sync``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from canonical.errors import ServiceError
from models.webhook import DeltaInput
from store.objects import list_active_connections
from workflows.delta import DeltaSyncWorkflow, delta_workflow_id
from workflows.names import CUSTOMER_ID, PLATFORM


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
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(CUSTOMER_ID, customer), SearchAttributePair(PLATFORM, platform)]
        ),
        static_summary=f"Delta pass of {platform}",
    )
    return workflow_id
