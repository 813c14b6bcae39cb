"""ScheduledReseedWorkflow: what a customer's re-seed schedule starts.

It runs ConnectWorkflow as a child under the same business id as an API connect
(`connect-{customer}-{platform}`), so a scheduled re-seed and a caller's connect can never run
at once: whichever comes second is skipped (schedule) or gets 409 (API).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from models.connect import ConnectInput, ScheduledReseedInput, ScheduledReseedResult
    from workflows.connect import ConnectWorkflow, connect_workflow_id
    from workflows.names import customer_platform


@workflow.defn
class ScheduledReseedWorkflow:
    @workflow.run
    async def run(self, params: ScheduledReseedInput) -> ScheduledReseedResult:
        try:
            handle = await workflow.start_child_workflow(
                ConnectWorkflow.run,
                ConnectInput(customer_id=params.customer_id, platform=params.platform, trigger="schedule"),
                id=connect_workflow_id(params.customer_id, params.platform),
                search_attributes=customer_platform(params.customer_id, params.platform),
                static_summary=f"Scheduled re-seed of {params.platform}",
            )
        except WorkflowAlreadyStartedError:
            workflow.set_current_details("skipped: a connect of this platform was already running")
            return ScheduledReseedResult(started=False, skipped_reason="a connect was already running")
        result = await handle
        return ScheduledReseedResult(started=True, result=result)
