"""PropagateWorkflow keeps each input's command sequence (models.propagate.WORKFLOW_REVISION): inputs
from before revision 2 record their outcome with an activity, newer ones with a local activity, and
both histories replay deterministically on the current code (a workflow waiting days for a replay
survives the deploy)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from models.propagate import WORKFLOW_REVISION, PropagateInput
from settings import Settings
from tests.api.test_propagate import PAYMENT_PROCORE, connected, payment
from workflows.propagate import PropagateWorkflow, propagate_workflow_id

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.parametrize("revision", [1, WORKFLOW_REVISION])
async def test_each_revision_runs_and_replays(
    revision: int,
    api: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    settings: Settings,
) -> None:
    customer, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    propagation_id = f"prop_rev{revision}_{uuid.uuid4().hex[:12]}"
    params = PropagateInput(
        propagation_id=propagation_id,
        customer_id=customer,
        canonical_id=canonical_id,
        entity_type="payment",
        format="canonical",
        canonical_patch={"notes": f"revision {revision}"},
        workflow_revision=revision,
    )
    handle = await temporal_client.start_workflow(
        PropagateWorkflow.run,
        params,
        id=propagate_workflow_id(customer, propagation_id),
        task_queue=settings.task_queue,
    )
    result = await handle.result()
    assert result.status == "synced" and set(result.propagated) == {"procore", "dynamics"}

    events = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert scheduled.count("fan_out") == 2 and "apply_canonical_update" in scheduled
    if revision == 1:
        assert "record_outcome" in scheduled and not markers
    else:
        assert "record_outcome" not in scheduled and len(markers) == 1
    async with sessionmaker() as s:
        status = (
            await s.execute(text("SELECT status FROM propagations WHERE id = :p"), {"p": propagation_id})
        ).scalar_one()
    assert status == "synced"

    replayer = Replayer(workflows=[PropagateWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(await handle.fetch_history())
