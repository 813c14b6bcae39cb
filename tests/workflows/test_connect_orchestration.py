"""ConnectWorkflow's orchestration alone, with stub activities on the real Temporal dev server: the seed
order of the entity table, a reconcile after each seed, activation last; a failure marks the
connection failed and never activates the half-seeded generation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from canonical.entities import SYNCED_ENTITY_TYPES
from models.connect import (
    ActivateInput,
    ActivateResult,
    BeginConnectInput,
    BeginConnectResult,
    ConnectInput,
    FailConnectInput,
    FailConnectResult,
    ReconcileInput,
    ReconcileResult,
    SeedInput,
    SeedResult,
)
from workflows.connect import ConnectWorkflow


@dataclass
class Script:
    fail_seed_of: str | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    activated: list[ActivateInput] = field(default_factory=list)
    failed: list[FailConnectInput] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="begin_connect")
        async def begin_connect(params: BeginConnectInput) -> BeginConnectResult:
            self.calls.append(("begin", params.platform))
            return BeginConnectResult(generation=7)

        @activity.defn(name="seed_entities")
        async def seed_entities(params: SeedInput) -> SeedResult:
            self.calls.append(("seed", params.entity_type))
            assert params.generation == 7
            if params.entity_type == self.fail_seed_of:
                raise ApplicationError("the platform refused the credentials", type="PlatformRejected", non_retryable=True)
            return SeedResult(count=len(params.entity_type))

        @activity.defn(name="reconcile_entities")
        async def reconcile_entities(params: ReconcileInput) -> ReconcileResult:
            self.calls.append(("reconcile", params.entity_type))
            return ReconcileResult(linked=1, created=0)

        @activity.defn(name="activate_connection")
        async def activate_connection(params: ActivateInput) -> ActivateResult:
            self.activated.append(params)
            return ActivateResult(canonical_deleted=0)

        @activity.defn(name="fail_connection")
        async def fail_connection(params: FailConnectInput) -> FailConnectResult:
            self.failed.append(params)
            return FailConnectResult()

        return [begin_connect, seed_entities, reconcile_entities, activate_connection, fail_connection]


@pytest.fixture
async def run(temporal_client: Client) -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    queue = f"connect-orchestration-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_client, task_queue=queue, workflows=[ConnectWorkflow], activities=script.activities()):
        yield script, queue


def _input() -> ConnectInput:
    return ConnectInput(customer_id=str(uuid.uuid4()), platform="procore")


async def test_types_are_seeded_in_table_order_each_reconciled_then_activated(
    temporal_client: Client, run: tuple[Script, str]
) -> None:
    script, queue = run
    result = await temporal_client.execute_workflow(
        ConnectWorkflow.run, _input(), id=f"c-{uuid.uuid4().hex}", task_queue=queue
    )
    # Written out: dependency order (a type after every type it references), not read from the table.
    order = ["project", "customer", "contract", "invoice", "payment"]
    assert list(SYNCED_ENTITY_TYPES) == order
    expected = [("begin", "procore")] + [step for entity in order for step in (("seed", entity), ("reconcile", entity))]
    assert script.calls == expected
    assert result.entities == {f"{entity}s": len(entity) for entity in SYNCED_ENTITY_TYPES}
    assert result.linked == dict.fromkeys((f"{entity}s" for entity in SYNCED_ENTITY_TYPES), 1)
    assert [a.generation for a in script.activated] == [7] and script.failed == []


async def test_a_failed_seed_marks_the_connection_and_never_activates(
    temporal_client: Client, run: tuple[Script, str]
) -> None:
    script, queue = run
    script.fail_seed_of = "invoice"
    with pytest.raises(WorkflowFailureError) as failure:
        await temporal_client.execute_workflow(ConnectWorkflow.run, _input(), id=f"c-{uuid.uuid4().hex}", task_queue=queue)
    assert isinstance(failure.value.cause, ApplicationError) and failure.value.cause.type == "ConnectFailed"
    assert script.calls[-1] == ("seed", "invoice")  # stopped at the failure: no reconcile of it, no payments
    assert script.activated == []
    assert len(script.failed) == 1 and "refused the credentials" in script.failed[0].error
