"""DeleteWorkflow: a canonical object deleted on a platform (its webhook, or a delta pass's sweep)
or through DELETE /objects. One per canonical object, whoever reports it and however often: the
tombstone first, then per other platform holding a record the connection's delete policy
(``tombstone_only``: kept; ``propagate``: deleted where the platform allows, else ``refused`` with
its reason), then the outcome recorded as a propagation (format ``delete``). Targets that failed or were
refused wait, like a failed fan-out, for a replay (signal ``retry_failed`` or
POST /propagations/{id}/retry) for ``REPLAY_WINDOW``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.delete import DeleteActivities
    from models.delete import DeleteInput, DeleteTarget, DeleteTargetResult
    from models.propagate import PropagateResponse, RetryRequest
    from workflows.create import SANDBOX_RETRY
    from workflows.names import OUTCOME, customer_platform
    from workflows.propagate import DB_RETRY, LIVE_RETRY, LIVE_WRITE_DEADLINE, REPLAY_WINDOW, platform_queue


def delete_workflow_id(customer_id: str, canonical_id: str) -> str:
    return f"delete-{customer_id}-{canonical_id}"


@workflow.defn
class DeleteWorkflow:
    def __init__(self) -> None:
        self._response: PropagateResponse | None = None
        self._retry_requested = False
        self._pass = 0
        self._recorded_pass = 0
        self._closed = False

    @workflow.run
    async def run(self, params: DeleteInput) -> PropagateResponse:
        plan = await workflow.execute_activity_method(
            DeleteActivities.tombstone,
            params,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=DB_RETRY,
            summary=f"tombstone {params.canonical_id}",
        )
        outcomes: dict[str, DeleteTargetResult] = {}
        pending = list(plan.targets)
        # Patched: a delete that started on the code before replays ends after its first pass.
        replayable = workflow.patched("delete-replay")
        while True:
            self._pass += 1
            for outcome in await asyncio.gather(*(self._one(params, t) for t in pending)):
                outcomes[outcome.platform] = outcome
            response = await workflow.execute_activity_method(
                DeleteActivities.record_delete,
                args=[params, plan, [outcomes[t.platform] for t in plan.targets]],
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=DB_RETRY,
                summary="record the delete",
            )
            self._response, self._recorded_pass = response, self._pass
            workflow.upsert_search_attributes([OUTCOME.value_set(response.status)])
            problems = [t for t in plan.targets if outcomes[t.platform].status in ("failed", "refused")]
            workflow.set_current_details(
                f"**{response.status}**: {plan.entity_type} {params.canonical_id} deleted by {plan.deleted_by}"
                + "".join(
                    f"\n\n{o.platform} {o.platform_id}: {o.status}" + (f" ({o.error})" if o.error else "")
                    for o in outcomes.values()
                )
                + (
                    f"\n\n(pass {self._pass}, {workflow.now().isoformat(timespec='seconds')}) Fix the cause on the "
                    "platform (or review the record there), then replay only those platforms: send the signal "
                    "`retry_failed` (no input). The platform's own rules are checked again; nothing is forced."
                    if problems and replayable
                    else ""
                )
            )
            if not problems or not replayable:
                break
            # A failed target (not reachable in time) and a refused one (the platform's rules, or a
            # record changed since we read it) wait for a replay: after a fix, the operator asks again.
            try:
                await workflow.wait_condition(lambda: self._retry_requested, timeout=REPLAY_WINDOW)
            except TimeoutError:
                break
            self._retry_requested = False
            pending = problems
        self._closed = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._response is not None
        return self._response

    @workflow.update
    async def first_pass(self) -> PropagateResponse:
        """The response of the first pass (what DELETE /objects returns)."""
        await workflow.wait_condition(lambda: self._response is not None)
        assert self._response is not None
        return self._response

    @workflow.update
    async def retry(self, request: RetryRequest) -> PropagateResponse:
        """Replay the failed and refused platforms; the new response (POST /propagations/{id}/retry)."""
        await workflow.wait_condition(lambda: self._response is not None)
        assert self._response is not None
        if self._response.status != "partial" or self._closed:
            return self._response
        passes = self._recorded_pass
        self._retry_requested = True
        # The replay window may close in the same step: then there is no further pass to wait for.
        await workflow.wait_condition(lambda: self._recorded_pass > passes or self._closed)
        return self._response

    @workflow.signal
    def retry_failed(self) -> None:
        """Replay the failed and refused platforms (send from the Temporal UI)."""
        self._retry_requested = True

    async def _one(self, params: DeleteInput, target: DeleteTarget) -> DeleteTargetResult:
        live = target.mode == "live"
        if target.policy != "propagate":
            return DeleteTargetResult(
                platform=target.platform, status="kept", platform_id=target.platform_id, live=live
            )
        try:
            return await workflow.execute_activity_method(
                DeleteActivities.delete_on_target,
                args=[params, target],
                task_queue=platform_queue(workflow.info().task_queue, target.platform) if live else None,
                start_to_close_timeout=timedelta(seconds=30 if live else 10),
                schedule_to_close_timeout=LIVE_WRITE_DEADLINE if live else None,
                retry_policy=LIVE_RETRY if live else SANDBOX_RETRY,
                summary=f"delete on {target.platform}",
            )
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            return DeleteTargetResult(
                platform=target.platform, status="failed", platform_id=target.platform_id, error=message, live=live
            )


async def start_deletes(customer_id: str, source_platform: str, gone: list[tuple[str, str]]) -> None:
    """Start the DeleteWorkflow of each (canonical id, platform id) found gone from ``source_platform``
    (once: one started before, by a webhook or the API, is left alone). Not awaited."""
    for canonical_id, platform_id in gone:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                DeleteWorkflow.run,
                DeleteInput(
                    customer_id=customer_id,
                    canonical_id=canonical_id,
                    source_platform=source_platform,
                    source_platform_id=platform_id,
                    deleted_by=source_platform,
                ),
                id=delete_workflow_id(customer_id, canonical_id),
                # One delete per object, ever: a late report of the same deletion starts nothing.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=customer_platform(customer_id, source_platform),
                static_summary=f"Delete {canonical_id} (gone from {source_platform})",
            )
