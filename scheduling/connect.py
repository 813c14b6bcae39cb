"""Starting a ConnectWorkflow (shared by the API and the CLI)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.connect import ConnectInput, ConnectResult
from platforms.registry import others
from workflows.connect import ConnectWorkflow, connect_workflow_id
from workflows.names import CUSTOMER_ID, PLATFORM


class ConnectConflict(Exception):
    """A connect for this customer is already running (same platform, or the other one)."""


async def is_running(client: Client, workflow_id: str) -> bool:
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING


async def start_connect(
    client: Client, params: ConnectInput, *, task_queue: str
) -> WorkflowHandle[ConnectWorkflow, ConnectResult]:
    # Two platforms seeding at once could each reconcile against a not-yet-active other side and
    # miss links, so connects of one customer run one at a time.
    for other in others(params.platform):
        if await is_running(client, connect_workflow_id(params.customer_id, other)):
            raise ConnectConflict(f"A connect for {other} is running for this customer; retry when it ends")
    try:
        return await client.start_workflow(
            ConnectWorkflow.run,
            params,
            id=connect_workflow_id(params.customer_id, params.platform),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CUSTOMER_ID, params.customer_id), SearchAttributePair(PLATFORM, params.platform)]
            ),
            static_summary=f"Connect {params.platform} for customer {params.customer_id} ({params.trigger})",
        )
    except WorkflowAlreadyStartedError as err:
        raise ConnectConflict(f"A connect for {params.platform} is already running") from err
