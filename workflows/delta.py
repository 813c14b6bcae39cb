"""DeltaSyncWorkflow: one delta pass of a live connection, the catch-up for what webhooks miss.

Per synced entity type, in reference order (a new contract is registered before its new invoice):
read what changed on the platform since the connection's watermark (less an overlap), or from the
platform's journal of our notifications, and register each new record. Then hand every record that
differs from its stored copy to its own WebhookWorkflow (the same platform-mode path as a webhook),
sweeping for deletions meanwhile when due, and move the watermarks in the step that records the
pass; then start the creates and deletes found. A pass asked for while one runs (the `again`
signal: a create webhook) runs once more when this one ends, so a record announced mid-pass is never
left for the next scheduled pass. Non-destructive (no re-seed); a crash reads again from the last
saved watermarks, and a change read twice is followed once (its delivery key is the record's
version, or its notification's key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.hand_on import HandOnActivities
    from activities.sync import SyncActivities
    from activities.webhook import WebhookActivities
    from models.webhook import (
        DeltaChange,
        DeltaChanges,
        DeltaInput,
        DeltaResult,
        DeltaTypeResult,
        HandOnInput,
        ResumeInput,
        SweepResult,
        WebhookEvent,
    )
    from platforms.registry import get_platform
    from workflows.catch_up import follow_all
    from workflows.create import start_creates
    from workflows.delete import start_deletes
    from workflows.names import delta_workflow_id

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5), non_retryable_error_types=["NotConfigured"]
)


# Changed records handed on per activity (a payload of a few hundred bytes each).
HAND_ON_BATCH = 500

__all__ = ["DeltaSyncWorkflow", "delta_workflow_id"]


async def _hand_on(events: list[WebhookEvent], how: str) -> list[bool]:
    """Start each change's WebhookWorkflow (activities.hand_on: not children, whose every completion
    would be a task of this pass); per event, whether it was new (not followed before)."""
    started: list[bool] = []
    for start in range(0, len(events), HAND_ON_BATCH):
        started += await workflow.execute_activity_method(
            HandOnActivities.hand_on,
            HandOnInput(events=events[start : start + HAND_ON_BATCH], how=how),
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=_RETRY,
            summary=f"hand on {min(HAND_ON_BATCH, len(events) - start)} changes ({how})",
        )
    return started


def _handed_on(params: DeltaInput, changes: Sequence[tuple[str, DeltaChange]]) -> list[WebhookEvent]:
    """Changed records as the webhook path's events; the key is the change (type, id, version), so a
    change read by two passes is followed once."""
    return [
        WebhookEvent(
            customer_id=params.customer_id,
            platform=params.platform,
            entity_type=entity_type,
            platform_id=change.platform_id,
            delivery_key=change.delivery_key or f"delta|{entity_type}|{change.platform_id}|{change.version}",
        )
        for entity_type, change in changes
    ]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


async def _changes(params: DeltaInput, entity_type: str) -> DeltaChanges:
    return await workflow.execute_activity_method(
        WebhookActivities.delta_changes,
        params.model_copy(update={"entity_type": entity_type}),
        start_to_close_timeout=timedelta(minutes=30),
        # A worker that dies mid-read is noticed in half a minute, not at the 30-minute cap.
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=_RETRY,
        summary=f"changed {params.platform} {entity_type} records",
    )


async def _sweep(params: DeltaInput) -> SweepResult:
    return await workflow.execute_activity_method(
        WebhookActivities.sweep_deleted,
        params,
        start_to_close_timeout=timedelta(minutes=60),
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=_RETRY,
        summary=f"deletion sweep of {params.platform} (when due)",
    )


def _type_result(entity_type: str, found: DeltaChanges, followed: int) -> DeltaTypeResult:
    return DeltaTypeResult(
        entity_type=entity_type, read=found.read, changed=followed, unmapped=found.unmapped, created=len(found.created)
    )


def _progress(results: Sequence[DeltaTypeResult]) -> str:
    return "; ".join(f"{r.entity_type}: {r.changed} changed, {r.created} new of {r.read} read" for r in results)


async def _record_pass(
    params: DeltaInput,
    started: datetime,
    results: Sequence[DeltaTypeResult],
    changed: int,
    *,
    swept_at: str | None = None,
    watermarks: dict[str, str] | None = None,
) -> None:
    """The pass, as GET /connections shows it, and (``watermarks``) where the next one reads from.
    Only a pass that read every type moves "last pass": its start bounds the lag of a change no
    webhook announced."""
    summary: dict[str, object] = {
        "started_at": _stamp(started),
        "finished_at": _stamp(workflow.now()),
        "read": sum(r.read for r in results),
        "changed": changed,
        "workflow_id": workflow.info().workflow_id,
    }
    if swept_at:
        summary["swept_at"] = swept_at
    args: list[object] = [ResumeInput(customer_id=params.customer_id, platform=params.platform), summary]
    if watermarks is not None:
        args.append(watermarks)
    await workflow.execute_activity_method(
        SyncActivities.record_delta_pass,
        args=args,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=_RETRY,
        summary=f"pass done: {changed} changed" + ("; watermarks moved" if watermarks is not None else ""),
    )


@workflow.defn
class DeltaSyncWorkflow:
    def __init__(self) -> None:
        self._again = False

    @workflow.signal
    def again(self) -> None:
        """Run once more when this pass ends (something announced a record this pass may have read past)."""
        self._again = True

    @workflow.run
    async def run(self, params: DeltaInput) -> DeltaResult:
        # Patched: a pass started on the code before hands each type's changes to child workflows as
        # it goes, and saves each watermark on its own.
        if workflow.patched("delta-hand-on"):
            result = await self._pass(params)
        else:
            result = await self._pass_with_children(params)
        if self._again:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(params.model_copy(update={"sweep": False}))  # a sweep asked for is done
        return result

    async def _pass(self, params: DeltaInput) -> DeltaResult:
        """Read every type, hand everything found on at once (sweeping meanwhile, when due), then
        move the watermarks in the same step as recording the pass: a crash before that reads the same
        changes again (each is followed once), and the pass's own steps do not queue behind the
        work its changes start."""
        started = workflow.now()
        found_by_type = []
        events: list[WebhookEvent] = []
        watermarks: dict[str, str] = {}
        created: list[str] = []
        for entity_type in get_platform(params.platform).synced_entity_types:
            found = await _changes(params, entity_type)
            found_by_type.append((entity_type, found))
            events += _handed_on(params, [(entity_type, change) for change in found.changes])
            created += found.created
            if found.watermark is not None:
                watermarks[entity_type] = found.watermark
            if found.journal_key is not None and found.journal_cursor is not None:
                watermarks[found.journal_key] = found.journal_cursor
            workflow.set_current_details(
                _progress([_type_result(t, f, len(f.changes)) for t, f in found_by_type])
                + "".join(f"\n\n{entity_type} not readable as canonical: {why}" for why in found.unmappable)
            )
        # The sweep (when due: a full read, minutes at scale) runs beside the hand-on, so neither
        # waits for the other; both finish before the pass is recorded.
        handed, sweep = await asyncio.gather(_hand_on(events, "delta pass"), _sweep(params))
        # Changes no notification and no journal showed (lost inside the platform), found by the
        # sweep's full read; a record this pass started a workflow for (which reads it fresh) is not
        # handed on again.
        passed = {(e.entity_type, e.platform_id) for e, new in zip(events, handed, strict=True) if new}
        lost = [(c.entity_type, c) for c in sweep.changed if (c.entity_type, c.platform_id) not in passed]
        swept = await _hand_on(_handed_on(params, lost), "deletion sweep")
        results = []
        for entity_type, found in found_by_type:
            results.append(_type_result(entity_type, found, sum(handed[: len(found.changes)])))
            handed = handed[len(found.changes) :]
        changed = sum(r.changed for r in results) + sum(swept)
        await _record_pass(params, started, results, changed, swept_at=sweep.swept_at, watermarks=watermarks)
        # Registered new records wait as pending rows (a crash leaves them for the next pass).
        await start_creates(params.customer_id, params.platform, list(dict.fromkeys(created + sweep.created)))
        await start_deletes(params.customer_id, params.platform, sweep.gone)
        workflow.set_current_details(
            _progress(results) + (f"; sweep: {sum(swept)} changed, {len(sweep.gone)} gone" if sweep.swept else "")
        )
        return DeltaResult(types=results, deleted=len(sweep.gone), swept=sweep.swept)

    async def _pass_with_children(self, params: DeltaInput) -> DeltaResult:
        """The pass as the code before ran it (replays of passes it started)."""
        started = workflow.now()
        results = []
        for entity_type in get_platform(params.platform).synced_entity_types:
            found = await _changes(params, entity_type)
            followed = await follow_all(_handed_on(params, [(entity_type, c) for c in found.changes]), "delta pass")
            await start_creates(params.customer_id, params.platform, found.created)
            if found.watermark is not None:
                await workflow.execute_activity_method(
                    WebhookActivities.save_watermark,
                    args=[params.model_copy(update={"entity_type": entity_type}), found.watermark],
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=_RETRY,
                    summary=f"{entity_type} watermark {found.watermark}",
                )
            results.append(_type_result(entity_type, found, followed))
            workflow.set_current_details(
                _progress(results)
                + "".join(f"\n\n{entity_type} not readable as canonical: {why}" for why in found.unmappable)
            )
        sweep = SweepResult(swept=False)
        # Patched: a pass that started on the code before sweeps replays without one.
        if workflow.patched("deletion-sweep"):
            sweep = await _sweep(params)
            await start_deletes(params.customer_id, params.platform, sweep.gone)
        await _record_pass(params, started, results, sum(r.changed for r in results))
        return DeltaResult(types=results, deleted=len(sweep.gone), swept=sweep.swept)
