"""A live connection's delta pass on a Temporal Schedule: created once, kept on reconnect, deleted
with the customer (a real Temporal dev server)."""

from __future__ import annotations

import uuid
from datetime import timedelta

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
