"""WebhookEndpointWorkflow: delivers one webhook endpoint's events, in order, each until
acknowledged, for as long as the endpoint exists and is enabled.

Delivery passes run as a heartbeating activity (a worker killed mid-pass: the next pass starts at the
first unacknowledged event). A failed attempt ends the pass with the delay the retry schedule (or the
receiver's Retry-After) asks for, waited out here on a durable timer, visible in the Temporal UI; the
`wake` signal (a redelivery, an endpoint enabled again) cuts the wait short. Continues as new when
the history grows.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.events import PASS_SECONDS, EventActivities
    from models.events import DeliveryPass, EndpointInput

_PASS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


def events_queue(task_queue: str) -> str:
    """The queue of delivery passes (one long-running activity per endpoint: not the main queue's slots)."""
    return f"{task_queue}-events"


def endpoint_workflow_id(customer_id: str, endpoint_id: str) -> str:
    return f"webhook-endpoint-{customer_id}-{endpoint_id}"


@workflow.defn
class WebhookEndpointWorkflow:
    def __init__(self) -> None:
        self._woken = False

    @workflow.run
    async def run(self, params: EndpointInput) -> str:
        delivered = 0
        while True:
            self._woken = False
            result: DeliveryPass = await workflow.execute_activity_method(
                EventActivities.deliver,
                params,
                task_queue=events_queue(workflow.info().task_queue),
                start_to_close_timeout=timedelta(seconds=PASS_SECONDS + 60),
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=_PASS_RETRY,
                summary="deliver events",
            )
            delivered += result.delivered
            if result.outcome == "stop":
                if self._woken:  # enabled again (or a redelivery asked for) while this pass ended
                    continue
                return f"stopped: endpoint {result.reason}; {delivered} delivered"
            if result.outcome == "retry":
                until = workflow.now() + timedelta(seconds=result.retry_in)
                workflow.set_current_details(
                    f"**Retrying**: the last attempt failed ({result.reason}); next attempt at "
                    f"{until.isoformat(timespec='seconds')}. Send the signal `wake` to try now."
                )
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self._woken, timeout=timedelta(seconds=result.retry_in))
            else:
                workflow.set_current_details(f"Delivering: {delivered} events delivered in this run")
            if workflow.info().is_continue_as_new_suggested() or workflow.info().get_current_history_length() > 2000:
                workflow.continue_as_new(params)

    @workflow.signal
    def wake(self) -> None:
        """Try now (a redelivery asked for, an endpoint enabled again)."""
        self._woken = True
