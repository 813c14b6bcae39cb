"""MaintenanceWorkflow: periodic housekeeping, started by the `structural-maintenance` schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import MaintenanceActivities
    from models.maintenance import MaintenanceInput, MaintenanceResult, PurgeRateLimitsInput

MAINTENANCE_SCHEDULE_ID = "structural-maintenance"


@workflow.defn
class MaintenanceWorkflow:
    @workflow.run
    async def run(self, params: MaintenanceInput) -> MaintenanceResult:
        purged = await workflow.execute_activity_method(
            MaintenanceActivities.purge_rate_limit_hits,
            PurgeRateLimitsInput(older_than_seconds=params.rate_limit_retention_seconds),
            start_to_close_timeout=timedelta(minutes=1),
            summary="purge expired rate-limit rows",
        )
        events = 0
        if workflow.patched("purge-events"):
            events = await workflow.execute_activity_method(
                MaintenanceActivities.purge_events,
                max(30, params.event_retention_days),
                start_to_close_timeout=timedelta(minutes=5),
                summary="purge events and delivery attempts past retention",
            )
        return MaintenanceResult(rate_limit_rows_deleted=purged.deleted, events_deleted=events)
