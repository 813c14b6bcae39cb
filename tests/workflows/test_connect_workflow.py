"""ConnectWorkflow under failure: a failed connect is hidden and repaired, a killed worker resumes."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from models.connect import ConnectInput
from platforms.synthetic import sizes
from settings import Settings
from store.customers import create_customer
from tests.fixtures.net import auth
from tests.fixtures.workers import start_worker
from workflows.connect import ConnectWorkflow, connect_workflow_id


async def _customer(sm: async_sessionmaker[AsyncSession]) -> tuple[str, str]:
    async with sm() as s:
        created = await create_customer(s, name=f"wf-{uuid.uuid4().hex[:6]}", environment="demo")
        await s.commit()
    return str(created.customer_id), created.api_key


@pytest.mark.usefixtures("worker")
async def test_failed_connect_is_hidden_then_repaired(
    temporal_client: Client, settings: Settings, api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    customer, key = await _customer(sessionmaker)
    with pytest.raises(WorkflowFailureError):
        await temporal_client.execute_workflow(
            ConnectWorkflow.run,
            ConnectInput(customer_id=customer, platform="procore", dataset="no-such-dataset"),
            id=connect_workflow_id(customer, "procore"),
            task_queue=settings.task_queue,
        )
    async with sessionmaker() as s:
        status = (
            await s.execute(text("SELECT status FROM connections WHERE customer_id = :c"), {"c": customer})
        ).scalar_one()
    assert status == "error"
    assert (await api.get("/api/v1/connections", headers=auth(key))).json()["data"]["connections"] == []

    resp = await api.post("/api/v1/connect", json={"platform": "procore"}, headers=auth(key))
    assert resp.status_code == 200, resp.text
    conns = (await api.get("/api/v1/connections", headers=auth(key))).json()["data"]["connections"]
    assert [(c["platform"], c["entities_synced"]) for c in conns] == [("procore", 38)]


async def _rows(sm: async_sessionmaker[AsyncSession], customer: str, entity_type: str | None = None) -> int:
    async with sm() as s:
        sql = "SELECT count(*) FROM platform_objects WHERE customer_id = :c"
        if entity_type:
            sql += " AND entity_type = :t"
        return int((await s.execute(text(sql), {"c": customer, "t": entity_type})).scalar_one())


async def test_worker_killed_mid_seed_resumes_without_duplicates(
    temporal_client: Client, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    customer, _ = await _customer(sessionmaker)
    queue = f"kill-test-{uuid.uuid4().hex[:8]}"
    payments = 20000
    worker = start_worker(settings, queue)
    try:
        handle = await temporal_client.start_workflow(
            ConnectWorkflow.run,
            ConnectInput(customer_id=customer, platform="procore", dataset=f"synthetic:{payments}"),
            id=connect_workflow_id(customer, "procore"),
            task_queue=queue,
        )
        # Kill it while the invoices are being streamed in (some batches committed, others not).
        for _ in range(600):
            if await _rows(sessionmaker, customer, "invoice") >= 5000:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("seeding never reached the invoices")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed_at = await _rows(sessionmaker, customer, "invoice")
        assert killed_at < payments, "the kill came too late to test anything"

        worker = start_worker(settings, queue)
        result = await asyncio.wait_for(handle.result(), 120)
    finally:
        worker.kill()
        worker.wait(10)

    expected = {f"{t}s": n for t, n in sizes(payments).items()}
    assert result.entities == expected
    assert await _rows(sessionmaker, customer) == sum(expected.values())
    async with sessionmaker() as s:
        mappings = (
            await s.execute(
                text(
                    "SELECT count(*), count(DISTINCT (entity_type, platform_id)) "
                    "FROM entity_mappings WHERE customer_id = :c"
                ),
                {"c": customer},
            )
        ).one()
        canonical = (
            await s.execute(text("SELECT count(*) FROM canonical_objects WHERE customer_id = :c"), {"c": customer})
        ).scalar_one()
    assert mappings[0] == mappings[1] == sum(expected.values())
    assert canonical == sum(expected.values())
