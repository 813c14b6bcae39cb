"""Upkeep of a live connection's continuous sync.

SubscriptionsWorkflow: after a live connect and on a Temporal Schedule (SUBSCRIPTION_CHECK_INTERVAL_SECONDS),
make the platform's subscriptions right (missing ones re-created, BC's renewed before their
3-day expiry) or, when the connection goes away, remove them.

ResumeSyncWorkflow: a paused connection resumes: every change held while it was paused is handed
to its WebhookWorkflow (oldest first, as if it had just arrived), then a delta pass catches up
whatever the platform did not announce.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from models.webhook import (
        DeltaInput,
        ResumeInput,
        ResumeResult,
        SubscriptionInput,
        SubscriptionResult,
    )
    from workflows.catch_up import follow_all, follow_collection
    from workflows.delta import DeltaSyncWorkflow, delta_workflow_id
    from workflows.names import customer_platform

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["NotConfigured"],
)


def subscriptions_workflow_id(customer_id: str, platform: str) -> str:
    """One check at a time per connection (a check asked for while one runs joins it)."""
    return f"subscriptions-{customer_id}-{platform}"


def resume_workflow_id(customer_id: str, platform: str) -> str:
    return f"resume-{customer_id}-{platform}"


@workflow.defn
class SubscriptionsWorkflow:
    @workflow.run
    async def run(self, params: SubscriptionInput) -> SubscriptionResult:
        result = await workflow.execute_activity_method(
            SyncActivities.check_subscriptions,
            params,
            start_to_close_timeout=timedelta(minutes=2),
            # A platform outage delays the check (the delta pass keeps syncing meanwhile).
            schedule_to_close_timeout=timedelta(hours=6),
            retry_policy=_RETRY,
            summary=f"{'remove' if params.remove else 'check'} {params.platform} subscriptions",
        )
        if params.remove:
            workflow.set_current_details(f"{result.removed} subscriptions removed")
        elif result.reason:
            workflow.set_current_details(f"no subscriptions: {result.reason}")
        else:
            counts: dict[str, int] = {}
            for s in result.subscriptions:
                counts[s.status] = counts.get(s.status, 0) + 1
            workflow.set_current_details(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        return result


@workflow.defn
class ResumeSyncWorkflow:
    @workflow.run
    async def run(self, params: ResumeInput) -> ResumeResult:
        released = 0
        while True:
            held = await workflow.execute_activity_method(
                SyncActivities.held_changes,
                params,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
                summary="changes held while paused",
            )
            if not held.events and not held.collections:
                break
            await follow_all(held.events, "held while paused")
            for collection in held.collections:
                await follow_collection(collection, "held while paused")
            keys = [e.delivery_key for e in held.events] + [c.delivery_key for c in held.collections]
            await workflow.execute_activity_method(
                SyncActivities.release_held,
                args=[params, keys],
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
                summary=f"{len(keys)} held changes handed on",
            )
            released += len(keys)
            workflow.set_current_details(f"{released} held changes handed on")
        # What the platform changed while paused but never announced (or announced to nobody).
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                DeltaSyncWorkflow.run,
                DeltaInput(customer_id=params.customer_id, platform=params.platform),
                id=delta_workflow_id(params.customer_id, params.platform),
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=customer_platform(params.customer_id, params.platform),
                static_summary=f"Delta pass of {params.platform} after resume",
            )
        return ResumeResult(released=released)
