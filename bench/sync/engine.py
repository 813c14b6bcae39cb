"""The bench's calls to the engine: its public API (connect, objects, propagations, delta passes) and
Temporal for what only the Temporal UI shows (whether anything still runs)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import FailureError

from bench.common import Span, Waits, activity_spans, waits
from bench.sync.stack import BenchError, Customer, Emulator
from models.webhook import DeltaResult, SubscriptionResult
from workflows.connect import connect_workflow_id
from workflows.sync import subscriptions_workflow_id

PAGE = 1000


async def failure(temporal: Client, workflow_id: str) -> str:
    """The failure chain of a failed workflow (what the API does not tell its callers)."""
    try:
        await temporal.get_workflow_handle(workflow_id).result()
    except WorkflowFailureError as err:
        chain: list[str] = []
        cause: BaseException | None = err.cause
        while cause is not None:
            chain.append(f"{type(cause).__name__}: {cause}")
            cause = cause.cause if isinstance(cause, FailureError) else None
        return " <- ".join(chain) or str(err)
    except Exception as err:
        return f"(no workflow failure: {type(err).__name__}: {err})"
    return "(the workflow completed)"


async def connect(
    api: httpx.AsyncClient, temporal: Client, customer: Customer, emulator: Emulator
) -> tuple[float, dict[str, int]]:
    """POST /api/v1/connect in live mode; the seconds it took and the records it connected."""
    started = time.monotonic()
    resp = await api.post(
        "/api/v1/connect",
        headers=customer.headers,
        json={"platform": emulator.platform, "mode": "live", "settings": emulator.live_settings()},
        timeout=3600,
    )
    if resp.status_code != 200:
        cause = await failure(temporal, connect_workflow_id(customer.customer_id, emulator.platform))
        raise BenchError(f"connect {emulator.platform}: {resp.status_code} {resp.text[:300]}; the workflow: {cause}")
    entities: dict[str, int] = resp.json()["data"]["entities"]
    return time.monotonic() - started, entities


async def first_checks(temporal: Client, customer: Customer, platforms: list[str]) -> None:
    """A connect starts its subscription check without waiting for it: wait (webhooks registered)."""
    for platform in platforms:
        result = await temporal.get_workflow_handle(
            subscriptions_workflow_id(customer.customer_id, platform), result_type=SubscriptionResult
        ).result()
        if result.reason:
            raise BenchError(f"{platform} subscriptions: {result.reason}")


async def objects(api: httpx.AsyncClient, customer: Customer, platform: str, entity_type: str) -> list[dict[str, Any]]:
    """Every object of a platform and type (GET /api/v1/objects, page by page)."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"platform": platform, "entity_type": entity_type, "limit": PAGE}
    while True:
        resp = await api.get("/api/v1/objects", headers=customer.headers, params=params)
        if resp.status_code != 200:
            raise BenchError(f"GET /objects {platform} {entity_type}: {resp.status_code} {resp.text[:300]}")
        body = resp.json()
        out += body["data"]
        pagination = body.get("pagination") or {}
        if not pagination.get("has_more"):
            return out
        params["cursor"] = pagination["next_cursor"]


async def create_outcome(api: httpx.AsyncClient, customer: Customer, canonical_id: str) -> dict[str, Any] | None:
    """The create propagation of a canonical object (its status and per-platform errors), if any."""
    from activities.create import create_propagation_id

    resp = await api.get(
        f"/api/v1/propagations/{create_propagation_id(customer.customer_id, canonical_id)}", headers=customer.headers
    )
    if resp.status_code != 200:
        return None
    data: dict[str, Any] = resp.json()["data"]
    return data


async def running(temporal: Client, customer: Customer) -> list[str]:
    """The customer's workflows still running, but those parked waiting days for a replay
    (``Outcome = partial``: a create or fan-out that failed; they are the analysis's to report)."""
    ids = []
    async for w in temporal.list_workflows(f"CustomerId = '{customer.customer_id}' AND ExecutionStatus = 'Running'"):
        outcome = (w.search_attributes or {}).get("Outcome")
        if outcome and "partial" in [str(v) for v in outcome]:
            continue
        ids.append(w.id)
    return ids


async def settle(temporal: Client, customer: Customer, emulators: list[Emulator], rounds: int = 240) -> None:
    """Until nothing more will happen: no delivery owed by an emulator and no workflow of the
    customer running, twice in a row (an engine write makes a notification, which starts a workflow,
    which may write...). Scheduled delta passes come and go; they only need to end."""
    quiet = 0
    left: list[str] = []
    for _ in range(rounds):
        idle = True
        for emulator in emulators:
            flushed = await emulator.control("POST", "/webhooks/flush", json={"timeout": 15, "release": True})
            idle = idle and flushed["pending"] == 0
        left = await running(temporal, customer)
        quiet = quiet + 1 if idle and not left else 0
        if quiet == 2:
            return
        await asyncio.sleep(0.5)
    raise BenchError(f"the engine did not settle: still running {left[:5]}")


class PassTimeout(BenchError):
    """A delta pass did not finish in the time the bench gives it (it was terminated)."""


async def delta_pass(
    api: httpx.AsyncClient, temporal: Client, customer: Customer, platform: str, *, within: float = 3600
) -> tuple[float, DeltaResult, list[Span], Waits]:
    """A delta pass on demand (POST /connections/{platform}/sync): its seconds, its result and its
    activities' durations (from the workflow's history). A pass still running after ``within``
    seconds is terminated: PassTimeout, saying which activity it was stuck in and why."""
    started = time.monotonic()
    resp = await api.post(f"/api/v1/connections/{platform}/sync", headers=customer.headers)
    if resp.status_code != 202:
        raise BenchError(f"sync {platform}: {resp.status_code} {resp.text[:300]}")
    handle = temporal.get_workflow_handle(resp.json()["data"]["workflow_id"], result_type=DeltaResult)
    try:
        result = await asyncio.wait_for(handle.result(), within)
    except TimeoutError:
        pending = (await handle.describe()).raw_description.pending_activities
        stuck = "; ".join(
            f"{a.activity_type.name} at attempt {a.attempt}, last failure: {a.last_failure.message or 'none'}"
            for a in pending
        )
        await handle.terminate("bench/sync: the pass took too long")
        raise PassTimeout(f"not done after {within:.0f} s ({stuck or 'no activity pending'})") from None
    took = time.monotonic() - started
    return took, result, await activity_spans(handle), await waits(handle)
