"""DELETE /api/v1/objects/{canonical_id} on sandbox connections: a tombstone with when and by whom,
each connection's delete policy (tombstone_only keeps its record, propagate deletes it), deleted
objects hidden from /objects unless include_deleted, idempotent, isolated, and closed to changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.routes.propagate import PropagationEnvelope
from tests.fixtures.api import assert_error
from tests.fixtures.propagate import connected

pytestmark = pytest.mark.usefixtures("worker")


async def _listed(
    api: httpx.AsyncClient, h: dict[str, str], platform: str, entity_type: str, **params: Any
) -> list[dict[str, Any]]:
    resp = await api.get(
        "/api/v1/objects", headers=h, params={"platform": platform, "entity_type": entity_type, **params}
    )
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["data"]
    return found


async def _linked(api: httpx.AsyncClient, h: dict[str, str], entity_type: str) -> dict[str, Any]:
    """An object of the type mapped on both platforms."""
    return next(
        o
        for o in await _listed(api, h, "procore", entity_type)
        if {m["platform"] for m in o["mappings"]} == {"procore", "dynamics"}
    )


async def _totals(api: httpx.AsyncClient, h: dict[str, str]) -> dict[str, int]:
    resp = await api.get("/api/v1/connections", headers=h)
    return {c["platform"]: c["entities_synced"] for c in resp.json()["data"]["connections"]}


async def test_a_delete_is_a_tombstone_and_the_default_policy_keeps_the_records(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, h = await connected(api, sessionmaker)
    target = await _linked(api, h, "payment")
    cid = target["canonical_id"]
    totals = await _totals(api, h)
    resp = await api.delete(f"/api/v1/objects/{cid}", headers=h)
    assert resp.status_code == 200, resp.text
    PropagationEnvelope.model_validate(resp.json())
    data = resp.json()["data"]
    assert data["canonical"]["id"] == cid
    assert data["canonical"]["deleted"]["by"].startswith("api:") and data["canonical"]["deleted"]["at"].endswith("Z")
    assert {p: e["writeStatus"] for p, e in data["propagated"].items()} == {"procore": "kept", "dynamics": "kept"}
    assert data["status"] == "synced"
    # Hidden from /objects, shown with include_deleted (the records are still on the platforms).
    assert cid not in {o["canonical_id"] for o in await _listed(api, h, "procore", "payment")}
    shown = [o for o in await _listed(api, h, "dynamics", "payment", include_deleted="true") if o["canonical_id"] == cid]
    assert len(shown) == 1 and shown[0]["deleted"] == data["canonical"]["deleted"]
    assert await _totals(api, h) == totals  # nothing left the platforms
    # The propagation record covers the delete.
    record = await api.get(f"/api/v1/propagations/{data['propagation_id']}", headers=h)
    assert record.status_code == 200, record.text
    assert record.json()["data"]["format"] == "delete"
    assert {t["platform"]: t["status"] for t in record.json()["data"]["targets"]} == {
        "procore": "kept",
        "dynamics": "kept",
    }
    # Deleting again is the same delete; a deleted object takes no more changes.
    again = await api.delete(f"/api/v1/objects/{cid}", headers=h)
    assert again.status_code == 200 and again.json()["data"] == data
    change = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={"format": "canonical", "canonical_id": cid, "entity_type": "payment", "data": {"notes": "late"}},
    )
    assert_error(change, 404, "NOT_FOUND")


async def test_the_propagate_policy_deletes_the_records(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, h = await connected(api, sessionmaker)
    for platform in ("procore", "dynamics"):
        resp = await api.patch(f"/api/v1/connections/{platform}", headers=h, json={"delete_policy": "propagate"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"] == {"platform": platform, "delete_policy": "propagate", "rules": {}, "directions": {}}
    listed = (await api.get("/api/v1/connections", headers=h)).json()["data"]["connections"]
    assert {c["delete_policy"] for c in listed} == {"propagate"}
    target = await _linked(api, h, "invoice")
    totals = await _totals(api, h)
    resp = await api.delete(f"/api/v1/objects/{target['canonical_id']}", headers=h)
    assert resp.status_code == 200, resp.text
    entries = resp.json()["data"]["propagated"]
    assert {p: e["writeStatus"] for p, e in entries.items()} == {"procore": "deleted", "dynamics": "deleted"}
    # Gone from the platforms: not listed even with include_deleted, and the totals went down by one.
    for platform in ("procore", "dynamics"):
        everything = await _listed(api, h, platform, "invoice", include_deleted="true")
        assert target["canonical_id"] not in {o["canonical_id"] for o in everything}
    assert await _totals(api, h) == {p: n - 1 for p, n in totals.items()}


async def test_bad_deletes_are_refused_and_change_nothing(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, h1 = await connected(api, sessionmaker, platforms=("procore",))
    _, h2 = await connected(api, sessionmaker, platforms=("procore",))
    theirs = (await _listed(api, h1, "procore", "contract"))[0]
    assert_error(await api.delete(f"/api/v1/objects/{theirs['canonical_id']}", headers=h2), 404, "NOT_FOUND")
    assert_error(await api.delete("/api/v1/objects/cor_doesnotexist", headers=h1), 404, "NOT_FOUND")
    assert_error(await api.delete("/api/v1/objects/" + "x" * 40, headers=h1), 400, "VALIDATION_ERROR")
    assert_error(await api.delete(f"/api/v1/objects/{theirs['canonical_id']}"), 401, "AUTHENTICATION_ERROR")
    # The other customer's object is untouched.
    assert theirs["canonical_id"] in {o["canonical_id"] for o in await _listed(api, h1, "procore", "contract")}
    for body in ({}, {"delete_policy": "sometimes"}, {"delete_policy": "propagate", "extra": 1}):
        assert_error(await api.patch("/api/v1/connections/procore", headers=h1, json=body), 400, "VALIDATION_ERROR")
    missing = await api.patch("/api/v1/connections/dynamics", headers=h1, json={"delete_policy": "propagate"})
    assert_error(missing, 404, "NOT_FOUND")
