"""PropagateWorkflow versioning: record_outcome became a local activity behind `workflow.patched`.

Histories recorded by the earlier code (`histories/`: record_outcome as an activity; as a local
activity selected by the input's `workflow_revision`, before the patch marker existed) must replay
deterministically on the current code, so workflows waiting days for a replay survive a deploy. A new
run takes the patched branch: a patch marker, record_outcome as a local activity, and it replays too.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from models.propagate import PropagateInput
from settings import Settings
from tests.fixtures.propagate import PAYMENT_PROCORE, connected, payment
from workflows.propagate import LOCAL_RECORD_PATCH, PropagateWorkflow, propagate_workflow_id

HISTORIES = Path(__file__).parent / "histories"


def _replayer() -> Replayer:
    return Replayer(workflows=[PropagateWorkflow], data_converter=pydantic_data_converter)


# Every saved history, by name (read at collection: a new file is replayed without a test edit).
SAVED = {path.stem: path.read_text() for path in sorted(HISTORIES.glob("propagate-*.json"))}


def test_the_histories_of_both_earlier_revisions_are_saved() -> None:
    assert set(SAVED) >= {"propagate-record-activity", "propagate-record-local-unpatched"}


@pytest.mark.parametrize("name", sorted(SAVED))
async def test_every_saved_history_replays(name: str) -> None:
    await _replayer().replay_workflow(WorkflowHistory.from_json(f"{name}-workflow", SAVED[name]))


async def test_a_history_replayed_on_the_other_branch_fails() -> None:
    # The replay check can fail: the activity-era history, its input edited to claim the
    # local-activity revision, takes the other branch and is a nondeterminism error.
    history = json.loads(SAVED["propagate-record-activity"])
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]
    payload = started["input"]["payloads"][0]
    params = json.loads(base64.b64decode(payload["data"]))
    assert params.get("workflow_revision", 1) == 1
    params["workflow_revision"] = 2
    payload["data"] = base64.b64encode(json.dumps(params).encode()).decode()
    with pytest.raises(Exception, match=r"(?i)nondetermin"):
        await _replayer().replay_workflow(WorkflowHistory.from_json("edited", json.dumps(history)))


@pytest.mark.usefixtures("worker")
async def test_a_new_run_takes_the_patched_branch_and_replays(
    api: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    settings: Settings,
) -> None:
    customer, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    propagation_id = f"prop_patched_{uuid.uuid4().hex[:12]}"
    params = PropagateInput(
        propagation_id=propagation_id,
        customer_id=customer,
        canonical_id=canonical_id,
        entity_type="payment",
        format="canonical",
        canonical_patch={"notes": "patched branch"},
    )
    handle = await temporal_client.start_workflow(
        PropagateWorkflow.run, params, id=propagate_workflow_id(customer, propagation_id), task_queue=settings.task_queue
    )
    result = await handle.result()
    assert result.status == "synced" and set(result.propagated) == {"procore", "dynamics"}

    events = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert scheduled.count("fan_out") == 2 and "record_outcome" not in scheduled
    assert "core_patch" in markers and "core_local_activity" in markers
    patch_ids = [
        str(e.marker_recorded_event_attributes.details) for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert any(LOCAL_RECORD_PATCH in details for details in patch_ids)
    # The patch's cost: its marker and the TemporalChangeVersion upsert, once per workflow.
    assert markers.count("core_patch") == 1
    async with sessionmaker() as s:
        status = (
            await s.execute(text("SELECT status FROM propagations WHERE id = :p"), {"p": propagation_id})
        ).scalar_one()
    assert status == "synced"
    await _replayer().replay_workflow(await handle.fetch_history())
