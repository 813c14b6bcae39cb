"""CreateWorkflow: a canonical object reaching every connected platform it has no record on.

Started for a record that appeared on one platform after the connect (its delta pass or a create
webhook registered it) and for POST /objects. Per target platform: its references are resolved
first (a referenced object that is new there too gets its own CreateWorkflow, and this one waits for
it), then the record is linked (the platform has it already: our marker or the same business key)
or created, exactly once: the workflow id is the canonical object's, and the activity looks before
it POSTs. A platform that refuses is recorded ``failed`` with its reason and waits for a replay, as
a failed fan-out does: the `retry_failed` signal (Temporal UI) or POST /propagations/{id}/retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.create import CreateActivities
    from models.create import CreateInput, CreatePlan, CreateTargetResult
    from models.propagate import PropagateResponse, PropagationStatus, RetryRequest
    from workflows.names import OUTCOME, customer_platform
    from workflows.propagate import DB_RETRY, LIVE_RETRY, LIVE_WRITE_DEADLINE, REPLAY_WINDOW, platform_queue

# How long a create waits for the referenced objects that are new on its target too (their own
# CreateWorkflows); then it tries anyway, and a reference still missing is a recorded failure.
PARENT_WAIT = timedelta(minutes=15)
SANDBOX_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)


def create_workflow_id(customer_id: str, canonical_id: str) -> str:
    """One create per canonical object, whoever asks (a delta pass, a webhook, the API) and however often."""
    return f"create-{customer_id}-{canonical_id}"


@workflow.defn
class CreateWorkflow:
    def __init__(self) -> None:
        self._response: PropagateResponse | None = None
        self._outcomes: dict[str, CreateTargetResult] = {}
        self._phase = "starting"
        self._retry_requested = False
        self._pass = 0
        self._recorded_pass = 0
        self._closed = False

    @workflow.run
    async def run(self, params: CreateInput) -> PropagateResponse:
        if params.data is not None:
            self._phase = "store"
            await workflow.execute_activity_method(
                CreateActivities.store_object,
                params,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=DB_RETRY,
                summary=f"store {params.entity_type} {params.canonical_id}",
            )
        self._phase = "plan"
        plan = await self._plan(params)
        if plan.entity_type:
            await self._parents(params, plan)
        pending = [t.platform for t in plan.targets]
        modes = {t.platform: t.mode for t in plan.targets}
        while True:
            self._pass += 1
            self._phase = f"create pass {self._pass}"
            results = await asyncio.gather(*(self._one(params, p, modes[p]) for p in pending))
            self._outcomes.update({r.platform: r for r in results})
            self._response = await workflow.execute_activity_method(
                CreateActivities.record_create,
                args=[params, plan, list(self._outcomes.values())],
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=DB_RETRY,
                summary="record the create",
            )
            self._recorded_pass = self._pass
            workflow.upsert_search_attributes([OUTCOME.value_set(self._response.status)])
            failed = sorted(p for p, o in self._outcomes.items() if o.status == "failed")
            if not failed:
                workflow.set_current_details(
                    f"**{self._response.status}**: {plan.entity_type} {params.canonical_id} on "
                    + (
                        ", ".join(f"{p} {o.platform_id} ({o.how})" for p, o in sorted(self._outcomes.items()))
                        or "no platform"
                    )
                )
                break
            self._phase = "waiting for replay"
            workflow.set_current_details(
                f"**Partial**: creating {plan.entity_type} {params.canonical_id} failed on "
                + "; ".join(f"{p}: {self._outcomes[p].error}" for p in failed)
                + f" (pass {self._pass}, {workflow.now().isoformat(timespec='seconds')}).\n\n"
                "Fix the cause, then replay only the failed platforms: send the signal `retry_failed` (no input)."
            )
            try:
                await workflow.wait_condition(lambda: self._retry_requested, timeout=REPLAY_WINDOW)
            except TimeoutError:
                await workflow.execute_activity_method(
                    CreateActivities.give_up_create,
                    params,
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=DB_RETRY,
                    summary="replay window closed",
                )
                break
            self._retry_requested = False
            # A replay re-plans: a parent fixed meanwhile (or created by its own replay) now resolves.
            plan = await self._plan(params)
            await self._parents(params, plan)
            pending = failed
        self._closed = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._response

    async def _plan(self, params: CreateInput) -> CreatePlan:
        return await workflow.execute_activity_method(
            CreateActivities.plan_create,
            params,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=DB_RETRY,
            summary="plan: targets and missing references",
        )

    async def _parents(self, params: CreateInput, plan: CreatePlan) -> None:
        """Start the CreateWorkflow of each referenced object missing on a target (one already running
        is joined), then wait, re-planning, until they are there or PARENT_WAIT has passed."""
        missing = sorted({cid for t in plan.targets for cid in t.missing_parents})
        if not missing:
            return
        self._phase = f"waiting for {len(missing)} referenced records"
        for parent in missing:
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    CreateWorkflow.run,
                    CreateInput(customer_id=params.customer_id, canonical_id=parent, source_platform=None),
                    id=create_workflow_id(params.customer_id, parent),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    search_attributes=customer_platform(params.customer_id, params.source_platform or "api"),
                    static_summary=f"Create {parent} (referenced by {params.canonical_id})",
                )
        deadline = workflow.now() + PARENT_WAIT
        delay = timedelta(seconds=1)
        while workflow.now() < deadline:
            await workflow.sleep(delay)
            replanned = await self._plan(params)
            if not any(t.missing_parents for t in replanned.targets):
                return
            delay = min(delay * 2, timedelta(seconds=30))

    async def _one(self, params: CreateInput, platform: str, mode: str) -> CreateTargetResult:
        live = mode == "live"
        try:
            return await workflow.execute_activity_method(
                CreateActivities.create_on_target,
                args=[params, platform],
                task_queue=platform_queue(workflow.info().task_queue, platform) if live else None,
                start_to_close_timeout=timedelta(seconds=30 if live else 10),
                schedule_to_close_timeout=LIVE_WRITE_DEADLINE if live else None,
                retry_policy=LIVE_RETRY if live else SANDBOX_RETRY,
                summary=f"link or create on {platform}",
            )
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            return CreateTargetResult(platform=platform, status="failed", error=message, live=live)

    @workflow.update
    async def retry(self, request: RetryRequest) -> PropagateResponse:
        """Replay the failed platforms and return the new response (POST /propagations/{id}/retry)."""
        await workflow.wait_condition(lambda: self._response is not None)
        assert self._response is not None
        if self._response.status != "partial":
            return self._response
        passes = self._recorded_pass
        self._retry_requested = True
        # The replay window may close in the same step: then there is no further pass to wait for.
        await workflow.wait_condition(lambda: self._recorded_pass > passes or self._closed)
        return self._response

    @workflow.update
    async def first_pass(self) -> PropagateResponse:
        """The response of the first pass (what POST /objects returns)."""
        await workflow.wait_condition(lambda: self._response is not None)
        assert self._response is not None
        return self._response

    @workflow.signal
    def retry_failed(self) -> None:
        """Replay the failed platforms (send from the Temporal UI)."""
        self._retry_requested = True

    @workflow.query
    def status(self) -> PropagationStatus:
        return PropagationStatus(
            phase=self._phase,
            outcome=self._response.status if self._response else None,
            targets={p: o.status for p, o in self._outcomes.items()},
            attempts=self._pass,
        )


async def start_creates(customer_id: str, source_platform: str, canonical_ids: list[str]) -> None:
    """Start the CreateWorkflow of each new record (once: one running already is left to finish).
    Not awaited: a create that waits for a replay must not hold back the pass; ordering (a new
    contract before its new invoice) is each create's own business (it waits for its references)."""
    for canonical_id in canonical_ids:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                CreateWorkflow.run,
                CreateInput(customer_id=customer_id, canonical_id=canonical_id, source_platform=source_platform),
                id=create_workflow_id(customer_id, canonical_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=customer_platform(customer_id, source_platform),
                static_summary=f"Create {canonical_id} (new on {source_platform})",
            )
