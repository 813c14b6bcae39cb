"""Continuous sync of a live connection, the use cases behind ``/connections/{platform}/...``:

- after a live connect: a Temporal Schedule of its delta pass (``DELTA_SYNC_INTERVAL_SECONDS``) and
  one of its subscription check (``SUBSCRIPTION_CHECK_INTERVAL_SECONDS``), and a first check now
  (which registers the platform's webhooks);
- a delta pass now (``sync``); ``pause`` (schedules paused, notifications held) and ``resume``
  (held changes handed on, then a delta pass);
- the sync state GET /connections shows; and, when a connection goes, its subscriptions removed
  and its schedules deleted."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from canonical.errors import ServiceError
from models.verify import VerifyInput
from models.webhook import DeltaInput, ResumeInput, SubscriptionInput, SubscriptionResult
from platforms.registry import names
from scheduling.reseed import delete_schedule
from settings import Settings
from store import events as events_q
from store.connections import merge_sync_state, sync_state
from store.objects import list_active_connections
from workflows.delta import DeltaSyncWorkflow, delta_workflow_id
from workflows.names import customer_platform
from workflows.sync import ResumeSyncWorkflow, SubscriptionsWorkflow, resume_workflow_id, subscriptions_workflow_id
from workflows.verify import VerifyWorkflow


class SyncError(ServiceError):
    """A sync request for a connection that cannot sync."""


async def live_connection(session: AsyncSession, customer_id: uuid.UUID, platform: str) -> dict[str, Any]:
    """The customer's active live connection to ``platform`` (SyncError otherwise): only a live
    connection has a platform to read changes from."""
    connection = next(
        (c for c in await list_active_connections(session, customer_id) if c["platform"] == platform), None
    )
    if connection is None:
        raise SyncError("not_found", f"no active {platform} connection; connect it first")
    if connection["mode"] != "live":
        raise SyncError("conflict", f"the {platform} connection is a sandbox: only live connections sync changes")
    return connection


async def start_delta_pass(
    session: AsyncSession,
    temporal: Client,
    customer_id: uuid.UUID,
    platform: str,
    task_queue: str,
    *,
    sweep: bool = False,
) -> str:
    """Start a delta pass of the customer's live connection to ``platform`` (or join the one running);
    its workflow id."""
    connection = await live_connection(session, customer_id, platform)
    if (connection.get("sync") or {}).get("paused"):
        raise SyncError("conflict", f"sync of {platform} is paused; resume it first")
    customer = str(customer_id)
    workflow_id = delta_workflow_id(customer, platform)
    await _start_or_join(
        temporal,
        DeltaSyncWorkflow.run,
        DeltaInput(customer_id=customer, platform=platform, sweep=sweep),
        workflow_id,
        task_queue,
        f"Delta pass of {platform}" + (" with a deletion sweep" if sweep else ""),
    )
    return workflow_id


async def _start_or_join(temporal: Client, run: Any, arg: Any, workflow_id: str, task_queue: str, summary: str) -> None:
    """Start a connection's workflow, or join the one of that id already running (a second ask
    while one runs is the same ask). ``arg`` names the customer and platform."""
    await temporal.start_workflow(
        run,
        arg,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=customer_platform(arg.customer_id, arg.platform),
        static_summary=summary,
    )


def delta_schedule_id(customer_id: uuid.UUID | str, platform: str) -> str:
    return f"delta-sync-{customer_id}-{platform}"


def subscription_schedule_id(customer_id: uuid.UUID | str, platform: str) -> str:
    return f"subscriptions-check-{customer_id}-{platform}"


def verify_schedule_id(customer_id: uuid.UUID | str, platform: str) -> str:
    return f"verify-{customer_id}-{platform}-scheduled"


async def _ensure_schedule(
    temporal: Client, sid: str, action: ScheduleActionStartWorkflow, interval_seconds: int, note: str
) -> None:
    """A connection's recurring workflow (one still running when the next is due: the next is
    skipped); kept when it exists already: a reconnect keeps the connection's schedules."""
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await temporal.create_schedule(
            sid,
            Schedule(
                action=action,
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                state=ScheduleState(note=note),
            ),
            search_attributes=action.typed_search_attributes,
        )


async def ensure_delta_schedule(
    temporal: Client, customer_id: uuid.UUID, platform: str, interval_seconds: int, task_queue: str
) -> str | None:
    """The connection's delta pass every ``interval_seconds``; None when the interval is 0 (off)."""
    if interval_seconds <= 0:
        return None
    sid = delta_schedule_id(customer_id, platform)
    customer = str(customer_id)
    action = ScheduleActionStartWorkflow(
        DeltaSyncWorkflow.run,
        DeltaInput(customer_id=customer, platform=platform),
        id=delta_workflow_id(customer, platform),
        task_queue=task_queue,
        typed_search_attributes=customer_platform(customer, platform),
    )
    await _ensure_schedule(
        temporal,
        sid,
        action,
        interval_seconds,
        f"Delta pass of {platform} every {interval_seconds}s for customer {customer}",
    )
    return sid


async def ensure_verify_schedule(
    temporal: Client, customer_id: uuid.UUID, platform: str, interval_seconds: int, task_queue: str
) -> str | None:
    """The connection's verify run every ``interval_seconds`` (each run's report under its workflow
    id); None when the interval is 0 (off)."""
    if interval_seconds <= 0:
        return None
    sid = verify_schedule_id(customer_id, platform)
    customer = str(customer_id)
    action = ScheduleActionStartWorkflow(
        VerifyWorkflow.run,
        VerifyInput(customer_id=customer, platform=platform, run_id=""),
        id=sid,
        task_queue=task_queue,
        typed_search_attributes=customer_platform(customer, platform),
    )
    await _ensure_schedule(
        temporal,
        sid,
        action,
        interval_seconds,
        f"Verify of {platform} every {interval_seconds}s for customer {customer}",
    )
    return sid


async def ensure_sync(temporal: Client, settings: Settings, customer_id: uuid.UUID, platform: str) -> None:
    """A live connection keeps itself up to date from now on: its delta pass and its subscription
    check on schedules, and a check now (registers the webhooks; not awaited: a platform slow to
    validate a subscription does not hold up the connect)."""
    await ensure_delta_schedule(
        temporal, customer_id, platform, settings.delta_sync_interval_seconds, settings.task_queue
    )
    await ensure_verify_schedule(temporal, customer_id, platform, settings.verify_interval_seconds, settings.task_queue)
    customer = str(customer_id)
    attributes = customer_platform(customer, platform)
    params = SubscriptionInput(customer_id=customer, platform=platform)
    interval = settings.subscription_check_interval_seconds
    if interval > 0:
        action = ScheduleActionStartWorkflow(
            SubscriptionsWorkflow.run,
            params,
            id=subscriptions_workflow_id(customer, platform),
            task_queue=settings.task_queue,
            typed_search_attributes=attributes,
        )
        await _ensure_schedule(
            temporal,
            subscription_schedule_id(customer_id, platform),
            action,
            interval,
            f"Subscription check of {platform} every {interval}s for customer {customer}",
        )
    await _start_or_join(
        temporal,
        SubscriptionsWorkflow.run,
        params,
        subscriptions_workflow_id(customer, platform),
        settings.task_queue,
        f"Subscriptions of {platform} after connect",
    )


async def remove_subscriptions(
    temporal: Client, settings: Settings, customer_id: uuid.UUID, platform: str
) -> SubscriptionResult:
    """Delete the connection's registrations on the platform (before its credentials go) and wait."""
    customer = str(customer_id)
    return await temporal.execute_workflow(
        SubscriptionsWorkflow.run,
        SubscriptionInput(customer_id=customer, platform=platform, remove=True),
        id=f"{subscriptions_workflow_id(customer, platform)}-remove",
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=customer_platform(customer, platform),
        static_summary=f"Remove the subscriptions of {platform}",
        # The caller waits (DELETE /connections): a platform that is down is an answer, not a hang.
        execution_timeout=timedelta(seconds=30),
    )


async def _pause_schedules(temporal: Client, customer_id: uuid.UUID, platform: str, *, pause: bool, note: str) -> None:
    for sid in (
        delta_schedule_id(customer_id, platform),
        subscription_schedule_id(customer_id, platform),
        verify_schedule_id(customer_id, platform),
    ):
        handle = temporal.get_schedule_handle(sid)
        try:
            await (handle.pause(note=note) if pause else handle.unpause(note=note))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # a schedule that is off (interval 0)
                raise


async def pause_sync(session: AsyncSession, temporal: Client, customer_id: uuid.UUID, platform: str) -> dict[str, Any]:
    """Stop all automatic sync of the connection: its schedules pause; notifications that arrive
    are acknowledged and held (not lost) until it resumes. Changes already under way finish."""
    await live_connection(session, customer_id, platform)
    paused_at = _now()
    await merge_sync_state(session, customer_id, platform, {"paused": True, "paused_at": paused_at})
    await events_q.emit(
        session, customer_id, "sync.paused", {"platform": platform, "at": paused_at}, key=f"{platform}|{paused_at}"
    )
    await session.commit()
    await _pause_schedules(temporal, customer_id, platform, pause=True, note="sync paused by the customer")
    return await sync_state(session, customer_id, platform)


async def resume_sync(
    session: AsyncSession, temporal: Client, customer_id: uuid.UUID, platform: str, task_queue: str
) -> str:
    """Restart the connection's automatic sync: held changes are handed on, then a delta pass
    catches up; the ResumeSyncWorkflow's id."""
    await live_connection(session, customer_id, platform)
    resumed_at = _now()
    await merge_sync_state(session, customer_id, platform, {"paused": False, "resumed_at": resumed_at})
    await events_q.emit(
        session, customer_id, "sync.resumed", {"platform": platform, "at": resumed_at}, key=f"{platform}|{resumed_at}"
    )
    await session.commit()
    await _pause_schedules(temporal, customer_id, platform, pause=False, note="sync resumed by the customer")
    customer = str(customer_id)
    workflow_id = resume_workflow_id(customer, platform)
    # A resume right after another: the held changes of both are handed on by one.
    await _start_or_join(
        temporal,
        ResumeSyncWorkflow.run,
        ResumeInput(customer_id=customer, platform=platform),
        workflow_id,
        task_queue,
        f"Resume sync of {platform}",
    )
    return workflow_id


def sync_status(connection: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The sync state GET /connections shows, from a connection row (``store.objects``)."""
    state = connection.get("sync") or {}
    last_pass = state.get("last_pass")
    lag = None
    if last_pass:
        started = datetime.fromisoformat(str(last_pass["started_at"]).replace("Z", "+00:00"))
        lag = max(0, int(((now or datetime.now(UTC)) - started).total_seconds()))
    return {
        "paused": bool(state.get("paused")),
        "subscriptions": state.get("subscriptions") or [],
        "subscriptions_checked_at": state.get("subscriptions_checked_at"),
        "last_pass": last_pass,
        "lag_seconds": lag,
        "changes_applied": int(state.get("applied") or 0),
        "last_change_at": state.get("last_change_at"),
        "held": int(connection.get("held") or 0),
        "last_error": state.get("subscriptions_error"),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def delete_sync_schedules(temporal: Client, customer_id: uuid.UUID) -> None:
    """A deleted customer's delta passes and subscription checks stop (every platform's; a missing
    one is no error)."""
    for platform in names():
        await delete_sync_schedules_of(temporal, customer_id, platform)


async def delete_sync_schedules_of(temporal: Client, customer_id: uuid.UUID, platform: str) -> None:
    """A removed connection's delta pass and subscription check stop (a missing one is no error)."""
    await delete_schedule(temporal, delta_schedule_id(customer_id, platform))
    await delete_schedule(temporal, subscription_schedule_id(customer_id, platform))
    await delete_schedule(temporal, verify_schedule_id(customer_id, platform))
