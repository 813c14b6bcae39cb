"""Verify over real HTTP with both emulators: a drift report finds exactly the records edited out of
band (no webhook told us), with both values, and ``repair`` brings them in line."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from models.verify import VerifyResult
from tests.events.conftest import feed
from tests.fixtures.api import assert_error
from tests.fixtures.live import control, edit_in_platform, silence_webhooks
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE
from tests.fixtures.sync import settle

pytestmark = pytest.mark.usefixtures("worker")

CONTRACT_PROCORE = "1945782"  # C-LEX-001 (demo data)


async def _verify(api: httpx.AsyncClient, key: str, temporal: Client, platform: str, **body: Any) -> dict[str, Any]:
    started = await api.post(f"/api/v1/connections/{platform}/verify", headers=auth(key), json=body)
    assert started.status_code == 202, started.text
    run = started.json()["data"]["verify_id"]
    await temporal.get_workflow_handle(run, result_type=VerifyResult).result()
    report = await api.get(f"/api/v1/verify/{run}", headers=auth(key), params={"limit": 500})
    assert report.status_code == 200, report.text
    data: dict[str, Any] = report.json()["data"]
    assert data["status"] == "completed", data
    # The caller hears of it: verify.completed with the same counts.
    [event] = [e for e in await feed(api, auth(key), types=["verify.completed"]) if e["data"]["run_id"] == run]
    assert event["data"]["platform"] == platform
    assert {t: c["checked"] for t, c in event["data"]["types"].items()} == {
        t: c["checked"] for t, c in data["counts"].items()
    }
    return data


def _drifted(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["platform_id"]: r for r in report["records"] if r["status"] == "drifted"}


async def test_verify_finds_exactly_the_records_edited_out_of_band_and_repair_brings_them_in_line(
    api: httpx.AsyncClient, live: str, emulators: Any, customer: str, temporal_client: Client
) -> None:
    await silence_webhooks(emulators)
    for platform in ("procore", "dynamics"):
        clean = await _verify(api, live, temporal_client, platform)
        assert _drifted(clean) == {}, clean["records"]
        assert sum(c["missing"] for c in clean["counts"].values()) == 0
        assert sum(c["checked"] for c in clean["counts"].values()) > 0
    await edit_in_platform(emulators, "dynamics", "payment", PAYMENT_DYNAMICS, description="typed in BC")
    await edit_in_platform(emulators, "procore", "contract", CONTRACT_PROCORE, title="Renamed in Procore")
    bc = await _verify(api, live, temporal_client, "dynamics")
    [found] = _drifted(bc).values()
    assert found["platform_id"] == PAYMENT_DYNAMICS and found["entity_type"] == "payment"
    [field] = [f for f in found["fields"] if f["changed_on_platform"]]
    assert field["field"] == "notes" and field["platform"] == "typed in BC" and field["canonical"] != "typed in BC"
    assert found["platform_modified"]
    assert bc["counts"]["payment"]["drifted"] == 1
    procore = await _verify(api, live, temporal_client, "procore")
    assert set(_drifted(procore)) == {CONTRACT_PROCORE}
    # Filters and pages.
    only = await api.get(
        f"/api/v1/verify/{procore['id']}", headers=auth(live), params={"status": "drifted", "entity_type": "contract"}
    )
    assert [r["platform_id"] for r in only.json()["data"]["records"]] == [CONTRACT_PROCORE]
    # Repair follows each drifted record as a platform change: canonical and the other platform take it.
    repaired = await _verify(api, live, temporal_client, "dynamics", repair=True)
    assert [r["repaired"] for r in _drifted(repaired).values()] == [True]
    await _verify(api, live, temporal_client, "procore", repair=True)
    await settle(emulators, temporal_client, customer)
    payment = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    assert payment["notes"] == "typed in BC"
    for platform in ("procore", "dynamics"):
        after = await _verify(api, live, temporal_client, platform)
        assert _drifted(after) == {}, (platform, after["records"])


async def test_verify_needs_a_live_connection_and_an_existing_run(
    api: httpx.AsyncClient, live: str, demo_key: str
) -> None:
    connected = await api.post("/api/v1/connect", json={"platform": "procore"}, headers=auth(demo_key))
    assert connected.status_code == 200
    assert_error(await api.post("/api/v1/connections/procore/verify", headers=auth(demo_key)), 409, "CONFLICT_ERROR")
    assert_error(await api.post("/api/v1/connections/dynamics/verify", headers=auth(demo_key)), 404, "NOT_FOUND")
    assert_error(await api.get("/api/v1/verify/verify-nope", headers=auth(live)), 404, "NOT_FOUND")
    bad = await api.post("/api/v1/connections/procore/verify", headers=auth(live), json={"repair": "sometimes"})
    assert_error(bad, 400, "VALIDATION_ERROR")
