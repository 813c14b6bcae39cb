"""The conflict queue over real HTTP with both emulators: a write that would overwrite an edit made in
Business Central opens a conflict (both sides' values); it can be resolved once, keeping canonical's
values, the platform's, or per field; a later change that settles the platform closes it as stale."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.events.conftest import feed
from tests.fixtures.api import assert_error
from tests.fixtures.live import canonical_payment, control, propagate, silence_webhooks
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE

pytestmark = pytest.mark.usefixtures("worker")


async def _bc_payment(emulators: Any) -> dict[str, Any]:
    record: dict[str, Any] = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    return record


async def _procore_payment(emulators: Any) -> dict[str, Any]:
    record: dict[str, Any] = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    return record


async def _conflict(api: httpx.AsyncClient, key: str, emulators: Any, bc_fields: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Edit the BC payment out of band (no notification reaches us), propagate ``ours``: the open
    conflict it leaves."""
    await silence_webhooks(emulators)
    cid = await canonical_payment(api, auth(key))
    await control(emulators, "dynamics", "PATCH", f"/records/payment/{PAYMENT_DYNAMICS}", json={"fields": bc_fields})
    body = await propagate(api, auth(key), cid, ours)
    assert body["propagated"]["dynamics"]["writeStatus"] == "conflict", body
    listed = await api.get("/api/v1/conflicts", headers=auth(key), params={"status": "open"})
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["data"]
    assert item["canonical_id"] == cid and item["platform"] == "dynamics" and item["platform_id"] == PAYMENT_DYNAMICS
    assert item["propagation_id"] == body["propagation_id"]
    return dict(item)


async def _resolve(api: httpx.AsyncClient, key: str, conflict: str, **body: Any) -> httpx.Response:
    return await api.post(f"/api/v1/conflicts/{conflict}/resolve", headers=auth(key), json=body)


async def test_a_conflict_is_queued_with_both_sides_and_keeping_canonical_writes_it_over(
    api: httpx.AsyncClient, live: str, emulators: Any
) -> None:
    item = await _conflict(api, live, emulators, {"description": "edited by a human in BC"}, {"notes": "ours"})
    assert item["fields"] == ["notes"]
    assert item["canonical_values"] == {"notes": "ours"}
    assert item["platform_values"] == {"notes": "edited by a human in BC"}
    shown = await api.get(f"/api/v1/conflicts/{item['id']}", headers=auth(live))
    assert shown.status_code == 200, shown.text
    detail = shown.json()["data"]
    assert detail["platform_record"]["description"] == "edited by a human in BC"
    assert detail["canonical_now"] == {"notes": "ours"} and detail["status"] == "open"
    resolved = await _resolve(api, live, item["id"], keep="canonical")
    assert resolved.status_code == 200, resolved.text
    data = resolved.json()["data"]
    assert data["conflict"]["status"] == "resolved" and data["conflict"]["resolved_by"].startswith("api:")
    assert data["conflict"]["resolution"]["fields"] == {"notes": "canonical"}
    assert data["propagation"]["propagated"]["dynamics"]["writeStatus"] == "synced", data
    assert data["conflict"]["resolution"]["propagation_id"] == data["propagation"]["propagation_id"]
    assert (await _bc_payment(emulators))["description"] == "ours"
    # Resolved once: a second resolution is refused, and nothing is left open.
    again = await _resolve(api, live, item["id"], keep="platform")
    assert "not open" in assert_error(again, 409, "CONFLICT_ERROR")["message"]
    still = await api.get("/api/v1/conflicts", headers=auth(live), params={"status": "open"})
    assert still.json()["data"] == []
    # Callers learned of both: the conflict opened and its resolution, in that order.
    types = ["conflict.opened", "propagation.conflict", "conflict.resolved"]
    events = await feed(api, auth(live), types=types)
    assert [e["type"] for e in events] == types, events
    assert {e["data"]["conflict_id"] for e in events if e["type"] != "propagation.conflict"} == {item["id"]}
    assert events[1]["data"]["platforms"]["dynamics"]["status"] == "conflict"
    assert events[2]["data"]["resolution"]["keep"] == "canonical"


async def test_keeping_the_platform_takes_its_values_everywhere(
    api: httpx.AsyncClient, live: str, emulators: Any
) -> None:
    item = await _conflict(api, live, emulators, {"description": "the accountant's note"}, {"notes": "ours"})
    resolved = await _resolve(api, live, item["id"], keep="platform")
    assert resolved.status_code == 200, resolved.text
    propagation = resolved.json()["data"]["propagation"]
    assert propagation["canonical"]["data"]["notes"] == "the accountant's note"
    assert (await _procore_payment(emulators))["notes"] == "the accountant's note"
    assert (await _bc_payment(emulators))["description"] == "the accountant's note"


async def test_per_field_resolution(api: httpx.AsyncClient, live: str, emulators: Any) -> None:
    item = await _conflict(
        api,
        live,
        emulators,
        {"description": "BC note", "postingDate": "2026-03-03"},
        {"notes": "our note", "payment_date": "2026-04-04"},
    )
    assert item["fields"] == ["notes", "payment_date"], item
    resolved = await _resolve(api, live, item["id"], keep="canonical", fields={"notes": "platform"})
    assert resolved.status_code == 200, resolved.text
    canonical = resolved.json()["data"]["propagation"]["canonical"]["data"]
    assert canonical["notes"] == "BC note" and canonical["payment_date"] == "2026-04-04"
    bc = await _bc_payment(emulators)
    assert bc["description"] == "BC note" and bc["postingDate"] == "2026-04-04"
    assert (await _procore_payment(emulators))["notes"] == "BC note"


async def test_a_later_change_that_settles_the_platform_makes_the_conflict_stale(
    api: httpx.AsyncClient, live: str, emulators: Any
) -> None:
    item = await _conflict(api, live, emulators, {"description": "edited in BC"}, {"notes": "ours"})
    cid = item["canonical_id"]
    body = await propagate(api, auth(live), cid, {"notes": "overwritten on purpose"}, overwrite=True)
    assert body["propagated"]["dynamics"]["writeStatus"] == "synced"
    shown = (await api.get(f"/api/v1/conflicts/{item['id']}", headers=auth(live))).json()["data"]
    assert shown["status"] == "stale" and body["propagation_id"] in shown["closed_reason"]
    late = await _resolve(api, live, item["id"], keep="canonical")
    assert "stale" in assert_error(late, 409, "CONFLICT_ERROR")["message"]


async def test_bad_resolutions_are_refused_and_change_nothing(
    api: httpx.AsyncClient, live: str, emulators: Any, temporal_client: Client
) -> None:
    item = await _conflict(api, live, emulators, {"description": "edited in BC"}, {"notes": "ours"})
    assert_error(await _resolve(api, live, "cfl_nope", keep="canonical"), 404, "NOT_FOUND")
    assert_error(await api.get("/api/v1/conflicts/cfl_nope", headers=auth(live)), 404, "NOT_FOUND")
    for body in ({}, {"keep": "both"}, {"keep": "canonical", "fields": {"notes": "mine"}}, {"keep": "canonical", "x": 1}):
        assert_error(await api.post(f"/api/v1/conflicts/{item['id']}/resolve", headers=auth(live), json=body), 400, "VALIDATION_ERROR")
    wrong_field = await _resolve(api, live, item["id"], keep="canonical", fields={"amount": "platform"})
    assert "fields.amount" in assert_error(wrong_field, 400, "VALIDATION_ERROR")["message"]
    bad_queries: list[dict[str, str | int]] = [{"status": "lost"}, {"platform": "sage"}, {"limit": 0}, {"cursor": "%%%"}]
    for params in bad_queries:
        assert_error(await api.get("/api/v1/conflicts", headers=auth(live), params=params), 400, "VALIDATION_ERROR")
    shown = (await api.get(f"/api/v1/conflicts/{item['id']}", headers=auth(live))).json()["data"]
    assert shown["status"] == "open"
    assert (await _bc_payment(emulators))["description"] == "edited in BC"
    # Another customer sees none of it.
    other = await api.post("/api/v1/demo/session")
    key = other.json()["data"]["api_key"]
    assert (await api.get("/api/v1/conflicts", headers=auth(key))).json()["data"] == []
    assert_error(await api.get(f"/api/v1/conflicts/{item['id']}", headers=auth(key)), 404, "NOT_FOUND")
