"""WebhookWorkflow: a platform said a record changed; fetch it and propagate it in platform mode."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.webhook import WebhookActivities
    from models.webhook import WebhookEvent, WebhookResult
    from workflows.names import customer_platform
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
