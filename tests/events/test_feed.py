"""The pull feed: every state change's event, in order, across pages, for its customer only;
written in the transaction of the change (a change that does not commit has no event)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store import events as q
from tests.events.conftest import change, feed
from tests.fixtures.api import assert_error
from tests.fixtures.propagate import connected

pytestmark = pytest.mark.usefixtures("worker")


async def test_the_feed_has_every_change_in_order_across_pages(
    api: httpx.AsyncClient, customer: dict[str, str]
) -> None:
    propagations = [await change(api, customer, n) for n in range(3)]
    events = await feed(api, customer)
    types = [e["type"] for e in events]
    assert types[:2] == ["connect.completed", "connect.completed"], types
    assert {e["data"]["platform"] for e in events[:2]} == {"procore", "dynamics"}
    synced = [e for e in events if e["type"] == "propagation.synced"]
    assert [e["data"]["propagation_id"] for e in synced] == propagations
    assert synced[0]["data"]["entity_type"] == "payment" and synced[0]["data"]["updated_fields"] == ["notes"]
    assert len({e["id"] for e in events}) == len(events)
    # One page at a time gives exactly the same events, in the same order.
    assert await feed(api, customer, limit=1) == events
    # A type filter; polling from the end gives nothing new, with a cursor to go on from.
    assert await feed(api, customer, types="connect.completed") == events[:2]
    both = await feed(api, customer, types=["connect.completed", "propagation.synced"])
    assert both == [e for e in events if e["type"] in ("connect.completed", "propagation.synced")]
    last = await api.get("/api/v1/events", headers=customer, params={"limit": 500})
    cursor = last.json()["pagination"]["next_cursor"]
    empty = await api.get("/api/v1/events", headers=customer, params={"after": cursor})
    assert empty.json() == {"data": [], "pagination": {"next_cursor": cursor, "has_more": False}}
    await change(api, customer, 99)
    more = await api.get("/api/v1/events", headers=customer, params={"after": cursor})
    assert [e["type"] for e in more.json()["data"]] == ["propagation.synced"]


async def test_customers_never_see_each_others_events(
    api: httpx.AsyncClient, customer: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, other = await connected(api, sessionmaker, ("procore",))
    await change(api, customer, 1)
    mine, theirs = await feed(api, customer), await feed(api, other)
    assert {e["customer_id"] for e in theirs} == {e["customer_id"] for e in theirs[:1]}
    assert not {e["id"] for e in mine} & {e["id"] for e in theirs}
    assert [e["type"] for e in theirs] == ["connect.completed"]
    # Another customer's cursor names no event of this one (seq numbers are per customer).
    cursor = (await api.get("/api/v1/events", headers=customer)).json()["pagination"]["next_cursor"]
    assert (await api.get("/api/v1/events", headers=other, params={"after": cursor})).json()["data"] == []


async def test_bad_feed_requests_are_refused(api: httpx.AsyncClient, customer: dict[str, str]) -> None:
    assert_error(await api.get("/api/v1/events", headers=customer, params={"after": "!!"}), 400, "VALIDATION_ERROR")
    resp = await api.get("/api/v1/events", headers=customer, params={"types": ["propagation.synced", "nope"]})
    assert_error(resp, 400, "VALIDATION_ERROR")
    assert_error(await api.get("/api/v1/events", headers=customer, params={"limit": 0}), 400, "VALIDATION_ERROR")
    assert_error(await api.get("/api/v1/events"), 401, "AUTHENTICATION_ERROR")
    types = (await api.get("/api/v1/event-types", headers=customer)).json()["data"]
    assert {"propagation.synced", "record.created", "webhook_endpoint.disabled"} <= {t["type"] for t in types}


async def test_an_event_commits_with_its_change_or_not_at_all(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], api: httpx.AsyncClient
) -> None:
    customer_id, h = await connected(api, sessionmaker, ("procore",))
    before = await feed(api, h)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await q.emit(conn, uuid.UUID(customer_id), "sync.paused", {"platform": "procore"}, key="rolled-back")
            raise RuntimeError("the change fails after the event was written")
    assert await feed(api, h) == before
    async with engine.begin() as conn:
        first = await q.emit(conn, uuid.UUID(customer_id), "sync.paused", {"platform": "procore"}, key="kept")
    async with engine.begin() as conn:  # the same change recorded again (a retried activity): one event
        again = await q.emit(conn, uuid.UUID(customer_id), "sync.paused", {"platform": "procore"}, key="kept")
    assert first == again
    after = await feed(api, h)
    assert [e["id"] for e in after[len(before) :]] == [first]


async def test_creates_and_deletes_have_their_events(api: httpx.AsyncClient, customer: dict[str, str]) -> None:
    made = await api.post(
        "/api/v1/objects",
        headers=customer,
        json={"entity_type": "customer", "data": {"name": "Gulf Steel Fabricators"}},
    )
    assert made.status_code == 201, made.text
    canonical_id = made.json()["data"]["canonical"]["id"]
    gone = await api.delete(f"/api/v1/objects/{canonical_id}", headers=customer)
    assert gone.status_code == 200, gone.text
    events = [e for e in await feed(api, customer) if e["data"].get("canonical_id") == canonical_id]
    assert [e["type"] for e in events] == [
        "record.created",
        "propagation.synced",
        "record.deleted",
        "propagation.synced",
    ]
    created, _, deleted, _ = (e["data"] for e in events)
    assert created["source_platform"] == "api" and created["data"]["name"] == "Gulf Steel Fabricators"
    assert set(created["platforms"]) == {"procore", "dynamics"}
    assert {p["status"] for p in created["platforms"].values()} == {"synced"}
    assert deleted["deleted_by"].startswith("api:") and {p["status"] for p in deleted["platforms"].values()} == {"kept"}
    assert [e["data"]["kind"] for e in events[1::2]] == ["create", "delete"]
