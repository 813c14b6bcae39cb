"""VerifyWorkflow: every mapped record of a live connection compared with canonical, one entity
type per activity (paged reads with heartbeats: a killed worker's type is retried from its start on
another), findings stored per run; with ``repair`` each drifted record is followed as a platform
change (its own WebhookWorkflow, as a lost webhook would have been)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.verify import VerifyActivities
    from models.verify import VerifyInput, VerifyResult
    from models.webhook import WebhookEvent
    from platforms.registry import get_platform
    from workflows.catch_up import follow_all
    from workflows.propagate import DB_RETRY

_READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5), non_retryable_error_types=["NotConfigured"]
)


def verify_workflow_id(customer_id: str, platform: str, run: str) -> str:
    return f"verify-{customer_id}-{platform}-{run}"


@workflow.defn
class VerifyWorkflow:
    @workflow.run
    async def run(self, params: VerifyInput) -> VerifyResult:
        if not params.run_id:  # started by the connection's schedule: the run is named by its workflow
            params = params.model_copy(update={"run_id": workflow.info().workflow_id})
        await workflow.execute_activity_method(
            VerifyActivities.start_verify,
            params,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=DB_RETRY,
            summary="open the report",
        )
        result = VerifyResult(run_id=params.run_id, types=[])
        try:
            for entity_type in get_platform(params.platform).synced_entity_types:
                found = await workflow.execute_activity_method(
                    VerifyActivities.verify_type,
                    args=[params, entity_type],
                    start_to_close_timeout=timedelta(hours=2),
                    heartbeat_timeout=timedelta(seconds=30),
                    retry_policy=_READ_RETRY,
                    summary=f"verify {params.platform} {entity_type}",
                )
                result.types.append(found)
                workflow.set_current_details(
                    "; ".join(
                        f"{t.entity_type}: {t.in_sync}/{t.checked} in sync, {t.drifted} drifted, {t.known} known, "
                        f"{t.missing} missing"
                        for t in result.types
                    )
                )
        except ActivityError as err:
            await workflow.execute_activity_method(
                VerifyActivities.fail_verify,
                args=[params, str(err.cause or err)],
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=DB_RETRY,
                summary="verify failed",
            )
            raise
        if params.repair:
            events = [
                WebhookEvent(
                    customer_id=params.customer_id,
                    platform=params.platform,
                    entity_type=t.entity_type,
                    platform_id=change.platform_id,
                    delivery_key=f"verify|{params.run_id}|{t.entity_type}|{change.platform_id}|{change.version}",
                )
                for t in result.types
                for change in t.follow
            ]
            await follow_all(events, "verify repair")
            result.repaired = len(events)
        await workflow.execute_activity_method(
            VerifyActivities.finish_verify,
            args=[params, result],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
            summary="close the report",
        )
        return result
