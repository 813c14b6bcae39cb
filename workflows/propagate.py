"""PropagateWorkflow: one change written through the canonical layer and fanned out per platform.

Steps: (1) canonical update, (2) source mirror (platform mode), (3) one fan-out activity per other
connected platform, concurrently. The caller gets the first pass through the `first_pass` update
(update-with-start: no result polling). Platforms that failed stay visible (search attribute
Outcome="partial", current details say which and why) and the workflow waits for a replay: the
`retry_failed` signal (Temporal UI: "Send a Signal") or update (API: POST /propagations/{id}/retry)
re-runs only the failed platforms. Platforms that succeeded are never re-written.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.propagate import PropagateActivities
    from models.propagate import (
        CanonicalUpdateResult,
        FanOutInput,
        FanOutResult,
        MirrorInput,
        PropagateInput,
        PropagateResponse,
        PropagationStatus,
        RecordOutcomeInput,
        RetryRequest,
    )
    from models.webhook import WebhookEvent
    from platforms.registry import get_platform
    from workflows.names import OUTCOME, PLATFORM, customer_platform, webhook_workflow_id

DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    maximum_attempts=10,
    non_retryable_error_types=["NotFound", "Inconsistent"],
)
# The first pass gives a platform a few quick attempts so the caller is not kept waiting; what
# still fails is recorded and waits for a replay.
FAN_OUT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_attempts=3,
    non_retryable_error_types=["NotMapped", "Inconsistent"],
)
REPLAY_WINDOW = timedelta(days=7)
# workflow.patched() id of "record_outcome runs as a local activity" (the activity it was before
# stays in old histories). Retire with workflow.deprecate_patch once no such workflow is open.
LOCAL_RECORD_PATCH = "record-outcome-local-activity"
# Live writes retry throttling and outages (honouring Retry-After) for up to an hour.
LIVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=["NotMapped", "Inconsistent", "NotConfigured"],
)
LIVE_WRITE_DEADLINE = timedelta(hours=1)


def platform_queue(main_queue: str, platform: str) -> str:
    """The task queue of one platform's live calls, next to the deployment's main queue."""
    return f"{main_queue}-{platform}"


def propagate_workflow_id(customer_id: str, propagation_id: str) -> str:
    return f"propagate-{customer_id}-{propagation_id}"


@workflow.defn
class PropagateWorkflow:
    def __init__(self) -> None:
        self._update: CanonicalUpdateResult | None = None
        self._outcomes: dict[str, FanOutResult] = {}
        self._response: PropagateResponse | None = None
        self._phase = "starting"
        self._retry_requested = False
        self._pass = 0
        self._recorded_pass = 0
        self._closed = False
        self._followed: set[str] = set()

    @workflow.run
    async def run(self, params: PropagateInput) -> PropagateResponse:
        self._phase = "canonical update"
        update = await workflow.execute_activity_method(
            PropagateActivities.apply_canonical_update,
            params,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=DB_RETRY,
            summary="canonical update",
        )
        self._update = update
        if params.format == "platform" and params.source_platform and params.native_patch:
            self._phase = "source mirror"
            await workflow.execute_activity_method(
                PropagateActivities.mirror_source,
                MirrorInput(
                    propagation_id=params.propagation_id,
                    customer_id=params.customer_id,
                    platform=params.source_platform,
                    platform_id=params.source_platform_id or "",
                    entity_type=params.entity_type,
                    native_patch=params.native_patch,
                    version=update.version,
                    source_version=params.source_version,
                ),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=DB_RETRY,
                summary=f"mirror on {params.source_platform}",
            )
        # A change with no effective difference fans out nothing, except that an overwrite writes the
        # current values over the platforms left in conflict or failed (the documented way out).
        pending = list(update.targets) if update.updated_fields else list(update.unsettled)
        while True:
            await self._fan_out(params, update, pending)
            if any(o.follow_remote for o in self._outcomes.values()) and workflow.patched("conflict-rules"):
                await self._follow_remote(params)
            failed = [p for p, o in self._outcomes.items() if o.status == "failed"]
            await self._record(params, failed)
            if not failed:
                break
            self._phase = "waiting for replay"
            if workflow.patched("operator-details"):
                # The list shows which platform failed (`Platform = "dynamics" AND Outcome = "partial"`).
                workflow.upsert_search_attributes([PLATFORM.value_set(",".join(sorted(failed)))])
                workflow.set_current_details(self._partial_details(params, update, failed))
            else:
                reasons = "; ".join(f"{p}: {self._outcomes[p].error}" for p in failed)
                workflow.set_current_details(
                    f"**Partial**: {', '.join(failed)} failed ({reasons}).\n\n"
                    "Replay only the failed platforms: send the signal `retry_failed` (no input)."
                )
            try:
                await workflow.wait_condition(lambda: self._retry_requested, timeout=REPLAY_WINDOW)
            except TimeoutError:
                break
            self._retry_requested = False
            pending = failed
        self._closed = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._response is not None
        return self._response

    def _partial_details(self, params: PropagateInput, update: CanonicalUpdateResult, failed: list[str]) -> str:
        """What an operator needs on the workflow's page (User Metadata > Current Details)."""
        lines = [
            f"**Partial** after pass {self._pass} ({workflow.now().isoformat(timespec='seconds')}): "
            f"{params.entity_type} `{params.canonical_id}`, fields {', '.join(update.updated_fields) or '(none)'}.",
            "",
        ]
        for platform in failed:
            outcome = self._outcomes[platform]
            lines.append(
                f"- **{platform}** record `{outcome.platform_id or update.target_ids.get(platform, '?')}`: "
                f"{outcome.error or 'failed'}"
            )
        lines += [
            "",
            f"Record: `GET /api/v1/propagations/{params.propagation_id}`; object: "
            f"`GET /api/v1/objects?entity_type={params.entity_type}` (canonical id above).",
            "Fix the cause, then replay only the failed platforms: More Actions > Send a Signal > `retry_failed` "
            "(no input), or `POST /api/v1/propagations/{id}/retry`.",
        ]
        return "\n".join(lines)

    @staticmethod
    def _source_stamp(params: PropagateInput) -> str:
        """When the change was made: by the source platform's clock (its record's last-modified
        stamp), or, for an API change, when this propagation started."""
        if params.source_platform and params.source_version:
            stamp = get_platform(params.source_platform).updated_at(params.source_version)
            if stamp:
                return stamp
        return workflow.info().start_time.isoformat().replace("+00:00", "Z")

    async def _follow_remote(self, params: PropagateInput) -> None:
        """Targets whose own change a conflict rule made win: read and applied everywhere, as if
        their notification had just arrived (one WebhookWorkflow each, not awaited)."""
        for platform, outcome in sorted(self._outcomes.items()):
            if not outcome.follow_remote or platform in self._followed or not outcome.platform_id:
                continue
            self._followed.add(platform)
            key = f"rule|{params.propagation_id}|{platform}"
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    "WebhookWorkflow",
                    WebhookEvent(
                        customer_id=params.customer_id,
                        platform=platform,
                        entity_type=params.entity_type,
                        platform_id=outcome.platform_id,
                        delivery_key=key,
                    ),
                    id=webhook_workflow_id(params.customer_id, platform, key),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    search_attributes=customer_platform(params.customer_id, platform),
                    static_summary=f"{platform} {params.entity_type} {outcome.platform_id} (its change wins by rule)",
                )

    async def _fan_out(self, params: PropagateInput, update: CanonicalUpdateResult, platforms: list[str]) -> None:
        self._pass += 1
        self._phase = f"fan-out pass {self._pass}"
        tasks = {p: asyncio.ensure_future(self._one(params, update, p)) for p in platforms}
        live = [p for p in platforms if update.modes.get(p) == "live"]
        if live and self._response is None and tasks:
            # Live writes may take long (throttling, retries): the caller gets an answer within the
            # response window, unfinished writes reported `pending`, and they complete in the background.
            await workflow.wait(list(tasks.values()), timeout=params.response_window_seconds)
            if not all(t.done() for t in tasks.values()):
                for platform, task in tasks.items():
                    self._outcomes[platform] = (
                        task.result() if task.done() else FanOutResult(platform=platform, status="pending", live=True)
                    )
                await self._record(params, [])
        for outcome in await asyncio.gather(*tasks.values()):
            self._outcomes[outcome.platform] = outcome

    async def _one(self, params: PropagateInput, update: CanonicalUpdateResult, platform: str) -> FanOutResult:
        live = update.modes.get(platform) == "live"
        try:
            return await workflow.execute_activity_method(
                PropagateActivities.fan_out,
                FanOutInput(
                    propagation_id=params.propagation_id,
                    customer_id=params.customer_id,
                    canonical_id=params.canonical_id,
                    entity_type=params.entity_type,
                    platform=platform,
                    version=update.version,
                    overwrite=params.overwrite,
                    source_platform=params.source_platform,
                    source_stamp=self._source_stamp(params),
                ),
                # Each platform's live calls go through its own task queue, rate limited server-side.
                task_queue=platform_queue(workflow.info().task_queue, platform) if live else None,
                start_to_close_timeout=timedelta(seconds=30 if live else 10),
                schedule_to_close_timeout=LIVE_WRITE_DEADLINE if live else None,
                retry_policy=LIVE_RETRY if live else FAN_OUT_RETRY,
                summary=f"fan out to {platform}" + (" (live)" if live else ""),
            )
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            return FanOutResult(platform=platform, status="failed", error=message, live=live)

    async def _record(self, params: PropagateInput, failed: list[str]) -> None:
        assert self._update is not None
        update = self._update
        statuses = {o.status for o in self._outcomes.values()}
        if not update.updated_fields and not self._outcomes:
            outcome = "noop"
        elif failed:
            outcome = "partial"
        elif "conflict" in statuses:
            outcome = "conflict"
        elif "pending" in statuses:
            outcome = "pending"
        else:
            outcome = "synced"
        propagated: dict[str, dict[str, Any]] = {}
        for p, o in sorted(self._outcomes.items()):
            if o.live:
                # Live connections report every attempted write with its status (the seed's writeStatus).
                entry: dict[str, Any] = {
                    "platform_id": o.platform_id,
                    "data": o.data,
                    "canonical_view": o.canonical_view,
                    "writeStatus": o.status,
                }
                if o.error and o.status in ("failed", "conflict"):
                    entry["writeError"] = o.error
                if o.conflict_data is not None:
                    entry["conflictData"] = o.conflict_data
                if o.error and o.status == "synced" and not o.superseded:
                    entry["writeNote"] = o.error
                propagated[p] = entry
            elif o.status == "synced":
                propagated[p] = {"platform_id": o.platform_id, "data": o.data, "canonical_view": o.canonical_view}
                if o.error and not o.superseded:
                    propagated[p]["writeNote"] = o.error
        resolved = [r.model_dump(exclude_none=True) for o in self._outcomes.values() for r in o.resolved]
        unresolved = [r.model_dump(exclude_none=True) for o in self._outcomes.values() for r in o.unresolved]
        response = PropagateResponse(
            propagation_id=params.propagation_id,
            canonical={
                "id": params.canonical_id,
                "entity_type": params.entity_type,
                "updated_fields": update.updated_fields,
                "data": update.data,
            },
            propagated=propagated,
            references={"resolved": resolved, "unresolved": unresolved},
            status=outcome,
            failed={p: o.error or "failed" for p, o in self._outcomes.items() if o.status == "failed"},
        )
        workflow.upsert_search_attributes([OUTCOME.value_set(outcome)])
        if not failed:
            workflow.set_current_details(f"**{outcome}**: {', '.join(self._outcomes) or 'no platform to write'}")
        record = RecordOutcomeInput(
            propagation_id=params.propagation_id,
            status=outcome,
            # record_outcome stores only what is not synced (synced targets recorded themselves).
            outcomes=[o for o in self._outcomes.values() if o.status != "synced"],
            response=response.model_dump(mode="json"),
            settled=sorted(p for p, o in self._outcomes.items() if o.status == "synced" and o.live),
            live=any(o.live for o in self._outcomes.values()),
        )
        # Recorded before anyone is answered: what a caller was told is durable in PostgreSQL too.
        # A local activity: it runs inside the workflow task that then answers the caller (no activity
        # task, no further workflow task through the server) and its input, the whole response, stays
        # out of the history. Idempotent, so re-running it after a crash is safe. Histories from
        # before the patch replay what they did: an activity, or a local activity without the marker
        # (their inputs say which, see PropagateInput.workflow_revision).
        local = workflow.patched(LOCAL_RECORD_PATCH) or params.workflow_revision >= 2
        execute = workflow.execute_local_activity_method if local else workflow.execute_activity_method
        await execute(
            PropagateActivities.record_outcome,
            record,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=DB_RETRY,
            summary=f"record {outcome}",
        )
        self._response = response
        self._recorded_pass = self._pass

    @workflow.update
    async def first_pass(self) -> PropagateResponse:
        """The response of the first fan-out pass (what POST /propagate returns)."""
        await workflow.wait_condition(lambda: self._response is not None)
        assert self._response is not None
        return self._response

    @workflow.update
    async def retry(self, request: RetryRequest) -> PropagateResponse:
        """Replay the failed platforms and return the new response (POST /propagations/{id}/retry)."""
        if self._response is None or self._response.status != "partial":
            await workflow.wait_condition(lambda: self._response is not None)
            assert self._response is not None
            return self._response
        passes = self._recorded_pass
        self._retry_requested = True
        # The replay window may close in the same step: then there is no further pass to wait for.
        await workflow.wait_condition(lambda: self._recorded_pass > passes or self._closed)
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
