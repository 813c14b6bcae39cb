"""DeltaSyncWorkflow versioning: the changes a pass finds were started as its children (ten at a
time) and are now started by the `hand_on` activity, behind `workflow.patched("delta-hand-on")`.

A pass recorded by the earlier code (`histories/delta-children.json`: one changed Procore payment
handed on as a child WebhookWorkflow) must replay on the current code, so a pass in flight survives
a deploy; a new pass takes the patched branch (its marker, a `hand_on` activity, no child) and
replays too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from models.webhook import DeltaResult
from tests.fixtures.live import control, edit_in_platform
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_PROCORE
from tests.fixtures.sync import settle
from workflows.delta import DeltaSyncWorkflow

SAVED = Path(__file__).parent / "histories" / "delta-children.json"


def _replayer() -> Replayer:
    return Replayer(workflows=[DeltaSyncWorkflow], data_converter=pydantic_data_converter)


def _kinds(history: dict[str, Any]) -> list[str]:
    return [str(e["eventType"]) for e in history["events"]]


async def test_a_pass_recorded_with_children_replays_on_the_current_code() -> None:
    history = json.loads(SAVED.read_text())
    kinds = _kinds(history)
    # What makes it the earlier revision: a child started, no hand_on activity, no marker of the patch.
    assert "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED" in kinds
    assert "hand_on" not in SAVED.read_text()
    await _replayer().replay_workflow(WorkflowHistory.from_json("delta-children", SAVED.read_text()))


@pytest.mark.usefixtures("worker")
async def test_a_new_pass_hands_changes_on_by_activity_and_replays(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    await control(emulators, "procore", "PATCH", "/settings", json={"webhooks": {"faults": {"drop": 1.0}}})
    await edit_in_platform(emulators, "procore", "payment", PAYMENT_PROCORE, notes="handed on")
    await settle(emulators, temporal_client, customer)
    started = await api.post("/api/v1/connections/procore/sync", headers=auth(live))
    assert started.status_code == 202, started.text
    handle = temporal_client.get_workflow_handle(started.json()["data"]["workflow_id"], result_type=DeltaResult)
    result = await handle.result()
    assert sum(t.changed for t in result.types) == 1, result
    await settle(emulators, temporal_client, customer)  # the handed-on change is applied before the next test
    events = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    children = [e for e in events if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]
    assert scheduled.count("hand_on") == 1 and not children
    markers = [
        str(e.marker_recorded_event_attributes.details)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert any("delta-hand-on" in details for details in markers)
    recorded = await handle.fetch_history()
    await _replayer().replay_workflow(recorded)

    # The replay check can fail: the same history with its patch marker renamed replays down the
    # earlier branch (a child start where the history has the hand_on activity).
    edited = json.loads(recorded.to_json())
    for event in edited["events"]:
        for payload in event.get("markerRecordedEventAttributes", {}).get("details", {}).get("patch-data", {}).get(
            "payloads", []
        ):
            data = json.loads(base64.b64decode(payload["data"]))
            if data.get("id") == "delta-hand-on":
                payload["data"] = base64.b64encode(json.dumps({**data, "id": "renamed"}).encode()).decode()
    with pytest.raises(Exception, match=r"(?i)nondetermin"):
        await _replayer().replay_workflow(WorkflowHistory.from_json("edited", json.dumps(edited)))
