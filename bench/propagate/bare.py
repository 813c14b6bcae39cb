"""The bare-workflow baseline: PropagateWorkflow's shape with no-op activities.

One activity, then two in parallel, then one, with the same activity options (timeouts, retry
policies) as PropagateWorkflow, and the caller answered by an update (`first_pass`) sent with
update-with-start, exactly as POST /propagate does. What it costs is Temporal's part alone: the
start, four activity round trips, four workflow tasks and the update.

Only the workflow and its activities live here (the module the workflow sandbox re-imports); the
worker is in bench/propagate/bare_worker.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

with workflow.unsafe.imports_passed_through():
    from workflows.names import CUSTOMER_ID

# The same options as workflows/propagate.py (copied, not imported, so the baseline stays bare).
DB_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=10)
FAN_OUT_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_attempts=3)
TIMEOUT = timedelta(seconds=10)
TARGETS = ("dynamics", "procore")


class BareInput(BaseModel):
    bare_id: str
    customer_id: str


class BareStep(BaseModel):
    bare_id: str
    step: str


class BareStepResult(BaseModel):
    step: str


class BareResponse(BaseModel):
    bare_id: str
    steps: list[str]


@activity.defn
async def bare_update(params: BareStep) -> BareStepResult:
    return BareStepResult(step=params.step)


@activity.defn
async def bare_fan_out(params: BareStep) -> BareStepResult:
    return BareStepResult(step=params.step)


@activity.defn
async def bare_record(params: BareStep) -> BareStepResult:
    return BareStepResult(step=params.step)


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self._response: BareResponse | None = None

    @workflow.run
    async def run(self, params: BareInput) -> BareResponse:
        first = await workflow.execute_activity(
            bare_update,
            BareStep(bare_id=params.bare_id, step="update"),
            start_to_close_timeout=TIMEOUT,
            retry_policy=DB_RETRY,
        )
        fanned = await asyncio.gather(
            *(
                workflow.execute_activity(
                    bare_fan_out,
                    BareStep(bare_id=params.bare_id, step=target),
                    start_to_close_timeout=TIMEOUT,
                    retry_policy=FAN_OUT_RETRY,
                )
                for target in TARGETS
            )
        )
        last = await workflow.execute_activity(
            bare_record,
            BareStep(bare_id=params.bare_id, step="record"),
            start_to_close_timeout=TIMEOUT,
            retry_policy=DB_RETRY,
        )
        self._response = BareResponse(bare_id=params.bare_id, steps=[first.step, *(f.step for f in fanned), last.step])
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._response

    @workflow.update
    async def first_pass(self) -> BareResponse:
        await workflow.wait_condition(lambda: self._response is not None)
        assert self._response is not None
        return self._response


def bare_workflow_id(bare_id: str) -> str:
    return f"bare-{bare_id}"


async def start_bare(client: Client, bare_id: str, customer_id: str, task_queue: str) -> BareResponse:
    """Update-with-start, as api/routes/propagate.py does it: answered after the fan-out."""
    start = WithStartWorkflowOperation(
        BareWorkflow.run,
        BareInput(bare_id=bare_id, customer_id=customer_id),
        id=bare_workflow_id(bare_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer_id)]),
        static_summary=f"Bare {bare_id}",
    )
    response: BareResponse = await client.execute_update_with_start_workflow(
        BareWorkflow.first_pass, start_workflow_operation=start
    )
    return response
