"""CatchUpWorkflow: a platform said "many records of this type changed" without saying which
(Business Central's ``changeType: "collection"``, sent for more than 1,000 changes in 30 seconds).

The engine reads the type's records, finds those that differ from what it last stored, and gives
each to a WebhookWorkflow, exactly as if each had been announced on its own: a burst of changes is
delayed, never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.webhook import WebhookActivities
    from models.webhook import CatchUpInput, CatchUpResult, WebhookEvent
    from workflows.create import start_creates
    from workflows.names import customer_platform, handed_on, webhook_workflow_id
    from workflows.webhook import WebhookWorkflow

__all__ = ["BATCH", "CatchUpWorkflow", "catch_up_workflow_id", "follow", "follow_all", "webhook_workflow_id"]

# Records handed on at once: enough to overlap their round trips, few enough for the platform's limits.
BATCH = 10


def _digest(delivery_key: str) -> str:
    return hashlib.sha256(delivery_key.encode()).hexdigest()[:20]


def catch_up_workflow_id(customer_id: str, platform: str, delivery_key: str) -> str:
    return f"catch-up-{customer_id}-{platform}-{_digest(delivery_key)}"


@workflow.defn
class CatchUpWorkflow:
    @workflow.run
    async def run(self, params: CatchUpInput) -> CatchUpResult:
        changed = await workflow.execute_activity_method(
            WebhookActivities.find_changed,
            params,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=5),
                maximum_interval=timedelta(minutes=5),
                non_retryable_error_types=["NotConfigured"],
            ),
            summary=f"find changed {params.platform} {params.entity_type} records",
        )
        workflow.set_current_details(
            f"{len(changed.platform_ids)} changed {params.entity_type} records of {changed.read} read"
        )
        events = [
            WebhookEvent(
                customer_id=params.customer_id,
                platform=params.platform,
                entity_type=params.entity_type,
                platform_id=platform_id,
                delivery_key=f"{params.delivery_key}|{platform_id}",
            )
            for platform_id in changed.platform_ids
        ]
        await follow_all(events, "catch-up")
        await start_creates(params.customer_id, params.platform, changed.created)
        return CatchUpResult(read=changed.read, changed=len(changed.platform_ids), unmapped=changed.unmapped)


async def follow_all(events: Sequence[WebhookEvent], how: str) -> int:
    """``follow`` each event, BATCH at a time; how many were new (not followed before)."""
    followed = 0
    for start in range(0, len(events), BATCH):
        followed += sum(await asyncio.gather(*(follow(event, how) for event in events[start : start + BATCH])))
    return followed


async def follow(event: WebhookEvent, how: str) -> bool:
    """Hand one changed record to its own WebhookWorkflow, as if it had been announced alone; False
    when it had been (a change read twice).

    Started, not awaited: a record whose propagation waits days for a failed platform must not hold
    back the others, and it outlives its starter (ABANDON). Already started: the same change (same
    delivery key) was followed before, and is not followed twice."""
    try:
        await workflow.start_child_workflow(
            WebhookWorkflow.run,
            event,
            parent_close_policy=ParentClosePolicy.ABANDON,
            **handed_on(
                event.customer_id, event.platform, event.entity_type, event.platform_id, event.delivery_key, how
            ),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def follow_collection(params: CatchUpInput, how: str) -> None:
    """Hand a collection notification to its CatchUpWorkflow (started, not awaited; once)."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await workflow.start_child_workflow(
            CatchUpWorkflow.run,
            params,
            id=catch_up_workflow_id(params.customer_id, params.platform, params.delivery_key),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            parent_close_policy=ParentClosePolicy.ABANDON,
            search_attributes=customer_platform(params.customer_id, params.platform),
            static_summary=f"{params.platform} {params.entity_type} catch-up ({how})",
        )
