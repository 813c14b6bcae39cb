"""A worker SIGKILLed between the platform's answer to a create and the engine's record of it: the
retried create finds the record it made, and the platform ends with exactly one."""

from __future__ import annotations

import signal
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from settings import Settings
from store.customers import create_customer
from tests.fixtures.emulators import BC_COMPANY
from tests.fixtures.live import connect_live, control
from tests.fixtures.net import auth, wait_for
from tests.fixtures.sync import first_checks, settle
from tests.fixtures.workers import start_worker

PROJECT_PROCORE = 341276
CONTRACT_PROCORE = 1945782


async def _bc_invoices(emulators: Any, number: str) -> list[dict[str, Any]]:
    records = (await control(emulators, "dynamics", "GET", "/records/invoice")).json()["records"]
    return [r for r in records if r.get("externalDocumentNumber") == number]


async def _api_creates(emulators: Any) -> list[dict[str, Any]]:
    body = (
        await control(emulators, "dynamics", "GET", "/writes", params={"entity_type": "invoice", "source": "api"})
    ).json()
    return [w for w in body["writes"] if w["operation"] == "create"]


async def test_a_worker_killed_after_the_platform_created_the_record_leaves_exactly_one(
    api: httpx.AsyncClient,
    emulators: Any,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    public_api: str,
) -> None:
    # No in-process worker here: this process's worker is the one killed.
    worker = start_worker(settings, settings.task_queue)
    try:
        for platform in ("procore", "dynamics"):
            await control(emulators, platform, "POST", "/reset")
        async with sessionmaker() as s:
            created = await create_customer(s, name=f"crash-{uuid.uuid4().hex[:6]}", environment="test")
            await s.commit()
        customer = str(created.customer_id)
        await connect_live(api, auth(created.api_key), emulators)
        await first_checks(temporal_client, customer)
        # BC applies the create and then holds its answer: the worker dies waiting for it.
        await control(
            emulators,
            "dynamics",
            "POST",
            "/faults",
            json={
                "kind": "drop_after_apply",
                "drop": "hang",
                "seconds": 20,
                "method": "POST",
                "path_prefix": f"{BC_COMPANY}/salesInvoices",
            },
        )
        await control(
            emulators,
            "procore",
            "POST",
            "/records/invoice",
            json={
                "fields": {
                    "project_id": PROJECT_PROCORE,
                    "commitment_id": CONTRACT_PROCORE,
                    "invoice_number": "INV-2026-0444",
                    "billing_date": "2026-11-30",
                    "total_claimed_amount": "2500.00",
                    "status": "draft",
                }
            },
        )

        async def applied() -> bool:
            return len(await _bc_invoices(emulators, "INV-2026-0444")) == 1

        await wait_for(applied, within=30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        worker = start_worker(settings, settings.task_queue)
        # The activity's attempt times out (30 s), the retry looks before it POSTs.
        await settle(emulators, temporal_client, customer, rounds=240)
        assert len(await _bc_invoices(emulators, "INV-2026-0444")) == 1
        assert len(await _api_creates(emulators)) == 1
        objects = (
            await api.get(
                "/api/v1/objects",
                headers=auth(created.api_key),
                params={"platform": "dynamics", "entity_type": "invoice"},
            )
        ).json()["data"]
        [made] = await _bc_invoices(emulators, "INV-2026-0444")
        [mapped] = [o for o in objects if o["id"] == made["id"]]
        assert set(mapped["data"]["external_ids"]) == {"procore", "dynamics"}
    finally:
        worker.kill()
        worker.wait(10)
