"""A live connection's delta pass on a Temporal Schedule: created once, kept on reconnect, deleted
with the customer (a real Temporal dev server)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError

from scheduling.sync import delete_sync_schedules, delta_schedule_id, ensure_delta_schedule


async def test_the_schedule_runs_the_delta_pass_at_the_interval(temporal_client: Client) -> None:
    customer = uuid.uuid4()
    assert await ensure_delta_schedule(temporal_client, customer, "dynamics", 0, "q") is None  # off
    sid = await ensure_delta_schedule(temporal_client, customer, "dynamics", 600, "q")
    assert sid == delta_schedule_id(customer, "dynamics")
    # A reconnect keeps it.
    assert await ensure_delta_schedule(temporal_client, customer, "dynamics", 600, "q") == sid
    described = await temporal_client.get_schedule_handle(sid).describe()
    assert described.schedule.spec.intervals[0].every == timedelta(seconds=600)
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "DeltaSyncWorkflow"
    await delete_sync_schedules(temporal_client, customer)
    with pytest.raises(RPCError):
        await temporal_client.get_schedule_handle(sid).describe()
    await delete_sync_schedules(temporal_client, customer)  # nothing left: no error


@pytest.mark.usefixtures("worker")
async def test_a_connection_can_be_verified_on_a_schedule(
    temporal_client: Client, live: str, sessionmaker: Any, settings: Any
) -> None:
    """The verify schedule starts a VerifyWorkflow whose report is named by its run; pausing sync
    pauses it, removing the connection's schedules removes it."""
    from models.verify import VerifyResult
    from scheduling.sync import ensure_verify_schedule, verify_schedule_id
    from store import verify as vq
    from store.customers import find_key_owner

    async with sessionmaker() as s:
        owner = await find_key_owner(s, live)
    assert owner is not None
    customer = owner.customer_id
    queue = settings.task_queue
    assert await ensure_verify_schedule(temporal_client, customer, "dynamics", 0, queue) is None  # off
    sid = await ensure_verify_schedule(temporal_client, customer, "dynamics", 86400, queue)
    assert sid == verify_schedule_id(customer, "dynamics")
    handle = temporal_client.get_schedule_handle(sid)
    await handle.trigger()

    async def started() -> list[str]:
        return [w.id async for w in temporal_client.list_workflows(f"WorkflowType = 'VerifyWorkflow' AND WorkflowId STARTS_WITH '{sid}'")]

    runs: list[str] = []
    for _ in range(100):
        runs = await started()
        if runs:
            break
        await asyncio.sleep(0.1)
    [run] = runs
    result = await temporal_client.get_workflow_handle(run, result_type=VerifyResult).result()
    assert result.run_id == run and sum(t.checked for t in result.types) > 0
    async with sessionmaker() as s:
        report = await vq.get_run(s, customer, run)
    assert report is not None and report["status"] == "completed"
    await delete_sync_schedules(temporal_client, customer)
    with pytest.raises(RPCError):
        await handle.describe()
