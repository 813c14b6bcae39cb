"""DeltaSyncWorkflow: one delta pass of a live connection, the catch-up for what webhooks miss.

Per synced entity type: read what changed on the platform since the connection's watermark (less an
overlap), hand each record that differs from the stored copy to its own WebhookWorkflow (the same
platform-mode path as a webhook), then move the watermark. Non-destructive (no re-seed); a crash
resumes from the last saved watermark, and a change read twice is followed once (its delivery key
is the record's version).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from activities.webhook import WebhookActivities
    from models.webhook import DeltaInput, DeltaResult, DeltaTypeResult, ResumeInput, WebhookEvent
    from platforms.registry import get_platform
    from workflows.catch_up import BATCH, follow

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5), non_retryable_error_types=["NotConfigured"]
)


def delta_workflow_id(customer_id: str, platform: str) -> str:
    """One pass at a time per connection: a pass asked for while one runs joins it."""
    return f"delta-{customer_id}-{platform}"


@workflow.defn
class DeltaSyncWorkflow:
    @workflow.run
    async def run(self, params: DeltaInput) -> DeltaResult:
        started = workflow.now()
        results = []
        for entity_type in get_platform(params.platform).synced_entity_types:
            scope = params.model_copy(update={"entity_type": entity_type})
            found = await workflow.execute_activity_method(
                WebhookActivities.delta_changes,
                scope,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=_RETRY,
                summary=f"changed {params.platform} {entity_type} records",
            )
            events = [
                WebhookEvent(
                    customer_id=params.customer_id,
                    platform=params.platform,
                    entity_type=entity_type,
                    platform_id=change.platform_id,
                    delivery_key=f"delta|{entity_type}|{change.platform_id}|{change.version}",
                )
                for change in found.changes
            ]
            for start in range(0, len(events), BATCH):
                await asyncio.gather(*(follow(event, "delta pass") for event in events[start : start + BATCH]))
            if found.watermark is not None:
                await workflow.execute_activity_method(
                    WebhookActivities.save_watermark,
                    args=[scope, found.watermark],
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=_RETRY,
                    summary=f"{entity_type} watermark {found.watermark}",
                )
            results.append(
                DeltaTypeResult(entity_type=entity_type, read=found.read, changed=len(events), unmapped=found.unmapped)
            )
            workflow.set_current_details(
                "; ".join(f"{r.entity_type}: {r.changed} changed of {r.read} read" for r in results)
            )
        changed = sum(r.changed for r in results)
        # Only a pass that read every type moves "last pass": its start bounds the lag of a change
        # no webhook announced.
        await workflow.execute_activity_method(
            SyncActivities.record_delta_pass,
            args=[
                ResumeInput(customer_id=params.customer_id, platform=params.platform),
                {
                    "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "finished_at": workflow.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "read": sum(r.read for r in results),
                    "changed": changed,
                    "workflow_id": workflow.info().workflow_id,
                },
            ],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_RETRY,
            summary=f"pass done: {changed} changed",
        )
        return DeltaResult(types=results)
