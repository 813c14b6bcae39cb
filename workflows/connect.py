"""ConnectWorkflow: destructive re-seed of one platform for one customer, then reconciliation.

Id `connect-{customer}-{platform}` (one at a time per customer and platform). Each entity type is
seeded and reconciled by its own activities, in dependency order, into a new generation that
readers only see once `activate_connection` switches to it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.connect import ConnectActivities
    from models.connect import (
        PLURAL,
        SEED_ORDER,
        ActivateInput,
        BeginConnectInput,
        ConnectInput,
        ConnectProgress,
        ConnectResult,
        FailConnectInput,
        ReconcileInput,
        SeedInput,
    )

# Database work retries a few times (a restarted worker, a failover), then the connect fails
# visibly instead of spinning: the caller's fix for a failed connect is to connect again.
DB_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=6)


def connect_workflow_id(customer_id: str, platform: str) -> str:
    return f"connect-{customer_id}-{platform}"


@workflow.defn
class ConnectWorkflow:
    def __init__(self) -> None:
        self._progress = ConnectProgress(phase="starting")

    @workflow.query
    def progress(self) -> ConnectProgress:
        return self._progress

    def _report(self, phase: str, entity_type: str | None = None) -> None:
        self._progress.phase = phase
        self._progress.entity_type = entity_type
        counts = ", ".join(f"{k} {v}" for k, v in self._progress.counts.items()) or "none yet"
        workflow.set_current_details(
            f"**{phase}** ({self._progress.done_types}/{self._progress.total_types} entity types done)\n\n"
            f"Seeded: {counts}"
        )

    @workflow.run
    async def run(self, params: ConnectInput) -> ConnectResult:
        begin = await workflow.execute_activity_method(
            ConnectActivities.begin_connect,
            BeginConnectInput(customer_id=params.customer_id, platform=params.platform, mode=params.mode),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
            summary=f"mark {params.platform} seeding",
        )
        generation = begin.generation
        linked: dict[str, int] = {}
        try:
            for entity_type in SEED_ORDER:
                plural = PLURAL[entity_type]
                self._report(f"seeding {plural}", entity_type)
                seeded = await workflow.execute_activity_method(
                    ConnectActivities.seed_entities,
                    SeedInput(
                        customer_id=params.customer_id,
                        platform=params.platform,
                        entity_type=entity_type,
                        generation=generation,
                        dataset=params.dataset,
                        mode=params.mode,
                    ),
                    start_to_close_timeout=timedelta(minutes=30),
                    # A killed worker is noticed within seconds, and the retry resumes the stream.
                    heartbeat_timeout=timedelta(seconds=10),
                    retry_policy=DB_RETRY,
                    summary=f"seed {params.platform} {plural}",
                )
                self._progress.counts[plural] = seeded.count
                self._report(f"reconciling {plural}", entity_type)
                reconciled = await workflow.execute_activity_method(
                    ConnectActivities.reconcile_entities,
                    ReconcileInput(
                        customer_id=params.customer_id,
                        platform=params.platform,
                        entity_type=entity_type,
                        generation=generation,
                    ),
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=DB_RETRY,
                    summary=f"reconcile {plural}",
                )
                linked[plural] = reconciled.linked
                self._progress.done_types += 1
            self._report("activating")
            await workflow.execute_activity_method(
                ConnectActivities.activate_connection,
                ActivateInput(
                    customer_id=params.customer_id,
                    platform=params.platform,
                    generation=generation,
                    counts=self._progress.counts,
                    live_started_at=(
                        workflow.info().start_time.isoformat(timespec="seconds").replace("+00:00", "Z")
                        if params.mode == "live"
                        else None
                    ),
                ),
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=DB_RETRY,
                summary=f"activate generation {generation}",
            )
        except ActivityError as err:
            reason = str(err.cause or err)
            self._report(f"failed: {reason}")
            await workflow.execute_activity_method(
                ConnectActivities.fail_connection,
                FailConnectInput(
                    customer_id=params.customer_id, platform=params.platform, generation=generation, error=reason
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY,
                summary="mark connection error",
            )
            raise ApplicationError(
                f"connect {params.platform} failed: {reason}", type="ConnectFailed", non_retryable=True
            ) from err
        self._report("connected")
        return ConnectResult(
            platform=params.platform, entities=dict(self._progress.counts), generation=generation, linked=linked
        )
