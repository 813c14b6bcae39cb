"""Handing changed records on: each one's WebhookWorkflow, started by an activity rather than as a
child of the pass that found it.

A child stays tied to its parent: every child's start and completion is an event in the parent's
history and a workflow task for it, so a pass that found 100 changes spent most of its time
replaying their completions (and failing to complete while more arrived). Started here, the
records run exactly as a webhook's do (the same id per change, so a change is followed once, by
whichever path saw it first), and the pass only learns how many were new.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.webhook import HandOnInput
from workflows.names import handed_on

# Starts in flight at once: a round trip each to the Temporal server, nothing on the platforms.
CONCURRENT_STARTS = 32


class HandOnActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn
    async def hand_on(self, params: HandOnInput) -> list[bool]:
        """Start the WebhookWorkflow of each changed record; per record, whether it had not been
        started before (a change read again by a later pass is not followed twice). A retried attempt
        starts only what the failed one did not."""
        gate = asyncio.Semaphore(CONCURRENT_STARTS)

        async def start(index: int) -> bool:
            event = params.events[index]
            async with gate:
                try:
                    await self._client.start_workflow(
                        "WebhookWorkflow",
                        event,
                        task_queue=self._task_queue,
                        **handed_on(
                            event.customer_id,
                            event.platform,
                            event.entity_type,
                            event.platform_id,
                            event.delivery_key,
                            params.how,
                        ),
                    )
                except WorkflowAlreadyStartedError:
                    return False
            if index % 50 == 0:
                activity.heartbeat(index)
            return True

        return list(await asyncio.gather(*(start(i) for i in range(len(params.events)))))
