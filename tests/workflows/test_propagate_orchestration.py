"""PropagateWorkflow's orchestration alone: its activities are stubs (same names, scripted results) on
the real Temporal dev server, so the tests say what the workflow decides, not what the database does:
which platforms it fans out to, what it records, how a failed platform waits for a replay and is the
only one written again, and that a change with no effect fans out nothing."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.propagate import (
    CanonicalUpdateResult,
    FanOutInput,
    FanOutResult,
    MirrorInput,
    MirrorResult,
    PropagateInput,
    PropagateResponse,
    RecordOutcomeInput,
    RecordOutcomeResult,
)
from workflows.propagate import PropagateWorkflow


@dataclass
class Script:
    """What the stub activities answer, and what they were asked."""

    updated_fields: list[str] = field(default_factory=lambda: ["notes"])
    targets: list[str] = field(default_factory=lambda: ["procore", "dynamics"])
    failing: set[str] = field(default_factory=set)  # platforms whose fan-out fails until healed
    fan_outs: Counter[str] = field(default_factory=Counter)
    mirrored: list[MirrorInput] = field(default_factory=list)
    recorded: list[RecordOutcomeInput] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="apply_canonical_update")
        async def apply_canonical_update(params: PropagateInput) -> CanonicalUpdateResult:
            return CanonicalUpdateResult(
                version=2,
                updated_fields=self.updated_fields,
                data={"notes": "after"},
                targets=self.targets,
                modes=dict.fromkeys(self.targets, "sandbox"),
            )

        @activity.defn(name="mirror_source")
        async def mirror_source(params: MirrorInput) -> MirrorResult:
            self.mirrored.append(params)
            return MirrorResult(applied=True)

        @activity.defn(name="fan_out")
        async def fan_out(params: FanOutInput) -> FanOutResult:
            self.fan_outs[params.platform] += 1
            if params.platform in self.failing:
                raise ApplicationError(f"{params.platform} is down", type="PlatformUnavailable", non_retryable=True)
            return FanOutResult(platform=params.platform, status="synced", platform_id="1", data="{}")

        @activity.defn(name="record_outcome")
        async def record_outcome(params: RecordOutcomeInput) -> RecordOutcomeResult:
            self.recorded.append(params)
            return RecordOutcomeResult()

        return [apply_canonical_update, mirror_source, fan_out, record_outcome]


@pytest.fixture
async def run(temporal_client: Client) -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    queue = f"orchestration-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_client, task_queue=queue, workflows=[PropagateWorkflow], activities=script.activities()):
        yield script, queue


def _params(**overrides: object) -> PropagateInput:
    values: dict[str, object] = {
        "propagation_id": f"prop_{uuid.uuid4().hex[:12]}",
        "customer_id": str(uuid.uuid4()),
        "canonical_id": "pay_000000000000001",
        "entity_type": "payment",
        "format": "canonical",
        "canonical_patch": {"notes": "after"},
    }
    return PropagateInput.model_validate({**values, **overrides})


async def _start(
    client: Client, queue: str, params: PropagateInput
) -> tuple[PropagateResponse, WorkflowHandle[PropagateWorkflow, PropagateResponse]]:
    start = WithStartWorkflowOperation(
        PropagateWorkflow.run,
        params,
        id=f"orchestration-{params.propagation_id}",
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    first = await client.execute_update_with_start_workflow(PropagateWorkflow.first_pass, start_workflow_operation=start)
    return first, await start.workflow_handle()


async def test_every_target_is_written_once_and_the_answer_recorded_once(
    temporal_client: Client, run: tuple[Script, str]
) -> None:
    script, queue = run
    first, handle = await _start(temporal_client, queue, _params())
    assert first.status == "synced" and set(first.propagated) == {"procore", "dynamics"}
    assert await handle.result() == first
    assert script.fan_outs == Counter({"procore": 1, "dynamics": 1})
    assert [r.status for r in script.recorded] == ["synced"]
    assert script.recorded[0].outcomes == []  # synced targets recorded themselves in fan_out
    assert script.mirrored == []  # canonical mode mirrors nothing


async def test_a_failed_platform_waits_for_a_replay_and_only_it_is_written_again(
    temporal_client: Client, run: tuple[Script, str]
) -> None:
    script, queue = run
    script.failing = {"dynamics"}
    first, handle = await _start(temporal_client, queue, _params())
    assert first.status == "partial" and first.failed == {"dynamics": "dynamics is down"}
    assert set(first.propagated) == {"procore"}
    status = await handle.query(PropagateWorkflow.status)
    assert status.phase == "waiting for replay" and status.targets == {"procore": "synced", "dynamics": "failed"}

    script.failing = set()
    await handle.signal(PropagateWorkflow.retry_failed)
    final = await handle.result()
    assert final.status == "synced" and final.failed == {}
    assert script.fan_outs == Counter({"procore": 1, "dynamics": 2})  # procore never re-written
    assert [r.status for r in script.recorded] == ["partial", "synced"]
    assert [o.platform for o in script.recorded[0].outcomes] == ["dynamics"]


async def test_a_change_with_no_effect_fans_out_nothing(temporal_client: Client, run: tuple[Script, str]) -> None:
    script, queue = run
    script.updated_fields = []
    first, handle = await _start(temporal_client, queue, _params())
    assert first.status == "noop" and first.propagated == {}
    await handle.result()
    assert script.fan_outs == Counter()
    assert [r.status for r in script.recorded] == ["noop"]


async def test_platform_mode_mirrors_the_source_then_fans_out_to_the_targets(temporal_client: Client, run: tuple[Script, str]) -> None:
    script, queue = run
    script.targets = ["dynamics"]  # apply_canonical_update leaves the source out (activities' job, tested there)
    params = _params(
        format="platform", source_platform="procore", source_platform_id="1823456", native_patch={"notes": "after"}
    )
    first, _ = await _start(temporal_client, queue, params)
    assert first.status == "synced"
    assert [(m.platform, m.platform_id, m.version) for m in script.mirrored] == [("procore", "1823456", 2)]
    assert script.fan_outs == Counter({"dynamics": 1})
