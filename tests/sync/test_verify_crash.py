"""A worker SIGKILLed in the middle of a verify run: the type it was reading is handed to the next
worker, which starts that type over, and the report ends complete with each finding once."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from models.verify import VerifyResult
from settings import Settings
from store.customers import create_customer
from tests.fixtures.emulators import BC_COMPANY
from tests.fixtures.live import connect_live, control, edit_in_platform, silence_webhooks
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_DYNAMICS
from tests.fixtures.sync import first_checks
from tests.fixtures.workers import start_worker


async def test_verify_survives_a_worker_killed_mid_run(
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
            created = await create_customer(s, name=f"verify-{uuid.uuid4().hex[:6]}", environment="test")
            await s.commit()
        key = created.api_key
        await connect_live(api, auth(key), emulators)
        await first_checks(temporal_client, str(created.customer_id))
        await silence_webhooks(emulators)
        await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="typed in BC")
        # BC is slow to list its payments: the worker dies while the verify reads them.
        await control(
            emulators,
            "dynamics",
            "POST",
            "/faults",
            json={"kind": "hang", "seconds": 8, "method": "GET", "path_prefix": f"{BC_COMPANY}/customerPaymentJournals"},
        )
        started = await api.post("/api/v1/connections/dynamics/verify", headers=auth(key))
        assert started.status_code == 202, started.text
        run = started.json()["data"]["verify_id"]

        async def reading_payments() -> bool:
            faults = (await control(emulators, "dynamics", "GET", "/faults")).json()["faults"]
            return not faults  # the hang has struck: the payment listing is in flight

        for _ in range(300):
            if await reading_payments():
                break
            await asyncio.sleep(0.1)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        worker = start_worker(settings, settings.task_queue)
        result = await asyncio.wait_for(
            temporal_client.get_workflow_handle(run, result_type=VerifyResult).result(), timeout=100
        )
        payments = next(t for t in result.types if t.entity_type == "payment")
        assert payments.drifted == 1 and payments.checked > 1, payments
        report = (await api.get(f"/api/v1/verify/{run}", headers=auth(key), params={"limit": 500})).json()["data"]
        assert report["status"] == "completed"
        drifted = [r for r in report["records"] if r["status"] == "drifted"]
        assert [r["platform_id"] for r in drifted] == [PAYMENT_DYNAMICS]  # once, not once per attempt
        assert report["counts"]["payment"]["checked"] == payments.checked
    finally:
        worker.kill()
        worker.wait(10)
