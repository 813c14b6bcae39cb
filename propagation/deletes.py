"""DELETE /objects/{canonical_id}: tombstone a canonical object and apply each connection's delete
policy (a DeleteWorkflow, the same one a deletion seen on a platform starts). Idempotent: a second
DELETE of the same object returns the first one's outcome."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.delete import delete_propagation_id
from models.delete import DeleteInput
from models.propagate import PropagateResponse
from propagation.service import PropagateError, public
from store import deletes as q
from store import propagate as pq
from workflows.delete import DeleteWorkflow, delete_workflow_id
from workflows.names import customer_platform


async def delete(
    conn: AsyncConnection,
    engine: AsyncEngine,
    customer_id: uuid.UUID,
    canonical_id: str,
    *,
    deleted_by: str,
    temporal: Client,
    task_queue: str,
    wait_seconds: float,
) -> dict[str, Any]:
    """Delete the object (or return how it was deleted before): the API's ``data``."""
    state = await q.object_state(conn, customer_id, canonical_id)
    if state is None:
        raise PropagateError("not_found", f"No object {canonical_id} (GET /objects lists them)")
    await conn.close()
    customer = str(customer_id)
    propagation_id = delete_propagation_id(customer, canonical_id)
    workflow_id = delete_workflow_id(customer, canonical_id)
    try:
        await temporal.start_workflow(
            DeleteWorkflow.run,
            DeleteInput(customer_id=customer, canonical_id=canonical_id, deleted_by=deleted_by),
            id=workflow_id,
            task_queue=task_queue,
            # One delete per object: a repeat (or a platform's deletion reported meanwhile) is that one.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=customer_platform(customer, "api"),
            static_summary=f"Delete {state[0]} {canonical_id} (DELETE /objects)",
        )
    except WorkflowAlreadyStartedError:
        async with engine.connect() as conn2:
            stored = await pq.get_propagation(conn2, customer_id, propagation_id)
        if stored is not None and stored.result is not None:
            return public(stored.result)
    try:
        # The first pass's outcome: a delete with failed or refused targets stays open for a replay.
        handle = temporal.get_workflow_handle(workflow_id, result_type=PropagateResponse)
        response = await asyncio.wait_for(handle.execute_update(DeleteWorkflow.first_pass), wait_seconds)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise PropagateError(
            "unavailable",
            f"The delete is still running (are workers running?); see GET /api/v1/propagations/{propagation_id}",
        ) from err
    except (WorkflowFailureError, WorkflowUpdateFailedError, RPCError) as err:
        raise PropagateError(
            "unavailable", f"The delete failed; see workflow {workflow_id} in the Temporal UI"
        ) from err
    return public(response)
