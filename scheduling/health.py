"""Whether workers poll the task queues: without a poller nothing the API starts ever runs.

Temporal lists a queue's pollers with the time of their last poll; an idle worker long-polls for up
to about a minute, so a poller seen within ``FRESH_SECONDS`` is live. A killed worker drops out
after that."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from platforms.registry import platforms
from workflows.events import events_queue
from workflows.propagate import platform_queue

FRESH_SECONDS = 90.0
#: How often a worker records that it is alive (worker.heartbeat); /health counts a worker live for
#: HEARTBEAT_FRESH seconds after its last beat.
HEARTBEAT_EVERY = 5.0
HEARTBEAT_FRESH = 15.0


def watched_queues(task_queue: str) -> list[tuple[str, TaskQueueType.ValueType]]:
    """(queue, kind) a working deployment has pollers on: workflows and activities of the main queue,
    the live-platform activity queues, event deliveries."""
    activity = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    return [
        (task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        (task_queue, activity),
        *((platform_queue(task_queue, p.name), activity) for p in platforms()),
        (events_queue(task_queue), activity),
    ]


async def live_pollers(client: Client, task_queue: str) -> dict[str, int]:
    """Live pollers per watched queue (``<queue>`` for workflows, ``<queue>/activities`` for activities)."""

    async def count(queue: str, kind: TaskQueueType.ValueType) -> int:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)
        )
        now = datetime.now(UTC)
        return sum(
            1
            for p in described.pollers
            if (now - p.last_access_time.ToDatetime(tzinfo=UTC)).total_seconds() <= FRESH_SECONDS
        )

    queues = watched_queues(task_queue)
    counts = await asyncio.gather(*(count(q, k) for q, k in queues))
    names = [q if k == TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW else f"{q}/activities" for q, k in queues]
    return dict(zip(names, counts, strict=True))
