"""A live connect seeds the delta watermark: the first pass after it reads what changed since shortly
before the connect began, not every record the connect just read (its cost follows the changes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from models.webhook import DeltaResult
from tests.fixtures.live import control, silence_webhooks
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_DYNAMICS

pytestmark = pytest.mark.usefixtures("worker")



async def _delta(api: httpx.AsyncClient, key: str, temporal: Client, platform: str) -> DeltaResult:
    started = await api.post(f"/api/v1/connections/{platform}/sync", headers=auth(key))
    assert started.status_code == 202, started.text
    return await temporal.get_workflow_handle(started.json()["data"]["workflow_id"], result_type=DeltaResult).result()


async def test_the_first_pass_after_a_connect_reads_only_what_changed(
    api: httpx.AsyncClient, live: str, emulators: Any, temporal_client: Client
) -> None:
    for platform in ("procore", "dynamics"):
        first = await _delta(api, live, temporal_client, platform)
        # The demo records were last modified long before this connect: none is read again.
        assert sum(t.read for t in first.types) == 0, (platform, first)
    # Business Central's change feed: the next pass reads the one record edited since. (Procore's
    # payments come from its hook's delivery log: tests/sync/test_continuous.py.)
    await silence_webhooks(emulators, "dynamics")  # only the pass can bring the edit
    await control(
        emulators, "dynamics", "PATCH", f"/records/payment/{PAYMENT_DYNAMICS}", json={"fields": {"description": "after"}}
    )
    after = await _delta(api, live, temporal_client, "dynamics")
    payments = next(t for t in after.types if t.entity_type == "payment")
    assert payments.read == 1 and payments.changed == 1, after
    assert sum(t.read for t in after.types) == 1, after
