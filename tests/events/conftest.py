"""A sandbox customer with both platforms connected, and helpers to make events and endpoints."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures.net import wait_for
from tests.fixtures.propagate import PAYMENT_PROCORE, connected, payment


@pytest.fixture
async def customer(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Auth headers of a new demo customer connected to both platforms (sandbox)."""
    _, h = await connected(api, sessionmaker)
    return h


async def change(api: httpx.AsyncClient, h: dict[str, str], n: int) -> str:
    """One propagation (the demo payment's notes): one `propagation.synced` event; its id."""
    obj = await payment(api, h, "procore", PAYMENT_PROCORE)
    resp = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={"canonical_id": obj["canonical_id"], "entity_type": "payment", "data": {"notes": f"change {n}"}},
    )
    assert resp.status_code == 200, resp.text
    propagation_id: str = resp.json()["data"]["propagation_id"]
    return propagation_id


async def feed(api: httpx.AsyncClient, h: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every event of the customer (all pages)."""
    out: list[dict[str, Any]] = []
    after = params.pop("after", None)
    while True:
        resp = await api.get("/api/v1/events", headers=h, params={**params, **({"after": after} if after else {})})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out += body["data"]
        after = body["pagination"]["next_cursor"]
        if not body["pagination"]["has_more"]:
            return out


async def add_endpoint(api: httpx.AsyncClient, h: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    resp = await api.post("/api/v1/webhook-endpoints", headers=h, json={"url": url, **fields})
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def eventually(predicate: Any, within: float = 20.0) -> None:
    """Until ``predicate()`` (plain or async) holds."""

    async def holds() -> bool:
        value = predicate()
        return bool(await value) if inspect.isawaitable(value) else bool(value)

    await wait_for(holds, within=within)
