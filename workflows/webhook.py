"""WebhookWorkflow: a platform said a record changed; fetch it and propagate it in platform mode."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.webhook import WebhookActivities
    from models.webhook import DeltaInput, WebhookEvent, WebhookResult
    from workflows.delete import start_deletes
    from workflows.names import customer_platform, delta_workflow_id
    from workflows.propagate import PropagateWorkflow, propagate_workflow_id


@workflow.defn
class WebhookWorkflow:
    @workflow.run
    async def run(self, event: WebhookEvent) -> WebhookResult:
        fetched = await workflow.execute_activity_method(
            WebhookActivities.fetch_change,
            event,
            start_to_close_timeout=timedelta(seconds=30),
            # Webhooks arrive when platforms are busy too: keep trying for a while (Retry-After honoured).
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=60),
                non_retryable_error_types=["NotConfigured"],
            ),
            schedule_to_close_timeout=timedelta(hours=1),
            summary=f"fetch {event.platform} {event.entity_type} {event.platform_id}",
        )
        if fetched.unmapped:
            await request_delta_pass(event.customer_id, event.platform)
        if fetched.gone is not None:
            await start_deletes(event.customer_id, event.platform, [(fetched.gone, event.platform_id)])
            workflow.set_current_details(f"deleted on {event.platform}: DeleteWorkflow of {fetched.gone} started")
            return WebhookResult(reason=fetched.reason)
        if fetched.propagate is None:
            workflow.set_current_details(f"nothing to propagate: {fetched.reason}")
            return WebhookResult(reason=fetched.reason)
        params = fetched.propagate
        await workflow.execute_child_workflow(
            PropagateWorkflow.run,
            params,
            id=propagate_workflow_id(params.customer_id, params.propagation_id),
            search_attributes=customer_platform(params.customer_id, event.platform),
            static_summary=f"Propagate {event.platform} webhook change of {params.canonical_id}",
        )
        return WebhookResult(propagation_id=params.propagation_id, reason="propagated")


async def request_delta_pass(customer_id: str, platform: str) -> None:
    """A record nobody knows was announced (a create): the connection's delta pass registers it and
    starts its create. One pass runs at a time; one running now may have read past the record, so
    it is asked to run once more (`again`). Started by name: the delta pass module imports this one."""
    workflow_id = delta_workflow_id(customer_id, platform)
    for _ in range(3):  # the running pass may end between our start and our signal: start again
        try:
            await workflow.start_child_workflow(
                "DeltaSyncWorkflow",
                DeltaInput(customer_id=customer_id, platform=platform),
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=customer_platform(customer_id, platform),
                static_summary=f"Delta pass of {platform} for a new record",
            )
            return
        except WorkflowAlreadyStartedError:
            try:
                await workflow.get_external_workflow_handle(workflow_id).signal("again")
                return
            except ApplicationError:
                continue
