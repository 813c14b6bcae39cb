"""POST /propagate end to end on real PostgreSQL + Temporal: both seed examples, partial success and
replay, validation, idempotency, ordering, rate limit, isolation."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from api.routes.propagate import PropagationEnvelope, PropagationRecordEnvelope
from canonical.money import convert_minor
from tests.fixtures.api import assert_error
from tests.fixtures.propagate import INVOICE_DYNAMICS, PAYMENT_DYNAMICS, PAYMENT_PROCORE, connected, payment
from workflows.names import OUTCOME, PLATFORM
from workflows.propagate import propagate_workflow_id

pytestmark = pytest.mark.usefixtures("worker")


def check_seed_result(body: dict[str, Any], canonical_id: str) -> None:
    data = body["data"]
    assert data["canonical"]["id"] == canonical_id
    assert data["canonical"]["entity_type"] == "payment"
    assert data["canonical"]["updated_fields"] == ["amount", "notes"]
    assert data["canonical"]["data"]["amount"] == {"amount": 175000000, "currency": "USD"}
    assert data["canonical"]["data"]["notes"] == "Updated payment amount"
    dyn = data["propagated"]["dynamics"]
    assert dyn["platform_id"] == PAYMENT_DYNAMICS
    # 1,750,000.00 USD at 3.64 QAR/USD
    assert dyn["data"]["amount"] == 6370000 and not isinstance(dyn["data"]["amount"], str)  # a JSON number
    assert dyn["data"]["description"] == "Updated payment amount"
    assert dyn["canonical_view"]["amount"] == {"amount": 637000000, "currency": "QAR"}
    assert dyn["data"]["appliesToInvoiceId"] == INVOICE_DYNAMICS
    resolved = {(r["field"], r.get("platform_id")) for r in data["references"]["resolved"]}
    assert ("invoice_id", INVOICE_DYNAMICS) in resolved


async def test_canonical_mode_seed_example(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    resp = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={
            "format": "canonical",
            "canonical_id": canonical_id,
            "entity_type": "payment",
            "data": {"amount": {"amount": 175000000, "currency": "USD"}, "notes": "Updated payment amount"},
        },
    )
    assert resp.status_code == 200, resp.text
    check_seed_result(resp.json(), canonical_id)
    assert "procore" in resp.json()["data"]["propagated"]  # canonical mode fans out to every mapped platform
    # the stored records agree
    assert (await payment(api, h, "dynamics", PAYMENT_DYNAMICS))["platform_data"][
        "description"
    ] == "Updated payment amount"
    assert (await payment(api, h, "procore", PAYMENT_PROCORE))["platform_data"]["amount"] == "1750000.00"
    # the same change again changes nothing and fans out nothing
    again = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={
            "canonical_id": canonical_id,
            "entity_type": "payment",
            "data": {"amount": {"amount": 175000000, "currency": "USD"}, "notes": "Updated payment amount"},
        },
    )
    assert again.status_code == 200
    assert again.json()["data"]["canonical"]["updated_fields"] == []
    assert again.json()["data"]["propagated"] == {}


async def test_platform_mode_seed_example(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    resp = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={
            "format": "platform",
            "platform": "procore",
            "platform_id": PAYMENT_PROCORE,
            "entity_type": "payment",
            "data": {"amount": "1750000.00", "notes": "Updated payment amount"},
        },
    )
    assert resp.status_code == 200, resp.text
    check_seed_result(resp.json(), canonical_id)
    assert list(resp.json()["data"]["propagated"]) == ["dynamics"]  # not back to the source
    # source mirror: the stored Procore record is what Procore sent
    mirrored = await payment(api, h, "procore", PAYMENT_PROCORE)
    assert mirrored["platform_data"]["amount"] == "1750000.00"
    assert mirrored["platform_data"]["notes"] == "Updated payment amount"
    record = (await api.get(f"/api/v1/propagations/{resp.json()['data']['propagation_id']}", headers=h)).json()
    assert record["data"]["status"] == "synced"
    assert [(t["platform"], t["status"]) for t in record["data"]["targets"]] == [("dynamics", "synced")]


async def test_partial_success_record_and_replay(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client
) -> None:
    customer, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    # The Dynamics sandbox is down for the next 3 write attempts (one pass: 3 tries).
    outage = await api.patch("/api/v1/connections/dynamics", headers=h, json={"sandbox_fail_writes": 3})
    assert outage.status_code == 200, outage.text
    resp = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={"canonical_id": canonical_id, "entity_type": "payment", "data": {"notes": "partial"}},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()["data"]
    assert body["status"] == "partial"
    assert "dynamics" not in body["propagated"] and "procore" in body["propagated"]
    assert "unavailable" in body["failed"]["dynamics"]
    pid = body["propagation_id"]
    # The hand-built responses (kept for speed: exact decimals) hold to their documented models.
    PropagationEnvelope.model_validate(resp.json())
    record_body = (await api.get(f"/api/v1/propagations/{pid}", headers=h)).json()
    PropagationRecordEnvelope.model_validate(record_body)
    record = record_body["data"]
    assert record["status"] == "partial"
    targets = {t["platform"]: t for t in record["targets"]}
    assert targets["dynamics"]["status"] == "failed" and targets["procore"]["status"] == "synced"
    # The failed target still names its record (the mapping), as the synced one does.
    assert targets["dynamics"]["platform_id"] == PAYMENT_DYNAMICS
    # The Temporal UI can list it by the failed platform, and its details say what an operator needs.
    handle = temporal_client.get_workflow_handle(propagate_workflow_id(customer, pid))
    described = await handle.describe()
    assert described.typed_search_attributes.get(PLATFORM) == "dynamics"
    assert described.typed_search_attributes.get(OUTCOME) == "partial"
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = metadata.current_details  # what the UI shows under User Metadata > Current Details
    assert "dynamics" in details and PAYMENT_DYNAMICS in details and "retry_failed" in details, details
    assert "payment" in details and canonical_id in details and "notes" in details and "pass 1" in details

    replay = await api.post(f"/api/v1/propagations/{pid}/retry", headers=h)
    assert replay.status_code == 200, replay.text
    PropagationEnvelope.model_validate(replay.json())
    assert replay.json()["data"]["status"] == "synced"
    assert set(replay.json()["data"]["propagated"]) == {"procore", "dynamics"}
    assert (await payment(api, h, "dynamics", PAYMENT_DYNAMICS))["platform_data"]["description"] == "partial"
    async with sessionmaker() as s:
        writes: dict[str, int] = dict(
            (
                await s.execute(
                    text("SELECT platform, count(*) FROM platform_writes WHERE propagation_id = :p GROUP BY platform"),
                    {"p": pid},
                )
            ).all()
        )
    assert writes == {"procore": 1, "dynamics": 1}  # procore was not re-written by the replay
    assert_error(await api.post(f"/api/v1/propagations/{pid}/retry", headers=h), 409, "CONFLICT_ERROR")


async def test_validation_and_not_found(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    customer, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]

    async def post(body: dict[str, Any]) -> httpx.Response:
        # ASCII JSON (\u escapes), so even a lone surrogate can be sent as a JSON client would.
        content = json.dumps(body, ensure_ascii=True)
        return await api.post("/api/v1/propagate", content=content, headers={**h, "Content-Type": "application/json"})

    assert_error(await post({"entity_type": "payment", "data": {}}), 400, "VALIDATION_ERROR")
    assert_error(
        await post({"format": "platform", "platform": "procore", "entity_type": "payment", "data": {}}),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        await post({"canonical_id": "pay_000000000000000", "entity_type": "payment", "data": {}}),
        404,
        "NOT_FOUND",
        "Entity mapping not found",
    )
    assert_error(
        await post(
            {"format": "platform", "platform": "dynamics", "platform_id": "nope", "entity_type": "payment", "data": {}}
        ),
        404,
        "NOT_FOUND",
        "Entity mapping not found",
    )
    assert_error(
        await post({"canonical_id": canonical_id, "entity_type": "invoice", "data": {"notes": "x"}}),
        400,
        "VALIDATION_ERROR",
    )
    err = assert_error(
        await post(
            {
                "canonical_id": canonical_id,
                "entity_type": "payment",
                "data": {"id": "x", "external_ids": {}, "notes": "x"},
            }
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "id" in err["message"] and "external_ids" in err["message"]
    err = assert_error(
        await post({"canonical_id": canonical_id, "entity_type": "payment", "data": {"colour": "red"}}),
        400,
        "VALIDATION_ERROR",
    )
    assert "colour" in err["message"]
    assert_error(
        await post(
            {
                "canonical_id": canonical_id,
                "entity_type": "payment",
                "data": {"amount": {"amount": "lots", "currency": "USD"}},
            }
        ),
        400,
        "VALIDATION_ERROR",
    )
    err = assert_error(
        await post(
            {
                "format": "platform",
                "platform": "procore",
                "platform_id": PAYMENT_PROCORE,
                "entity_type": "payment",
                "data": {"shoe_size": 9},
            }
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "shoe_size" in err["message"]
    assert_error(
        await post(
            {
                "format": "platform",
                "platform": "procore",
                "platform_id": PAYMENT_PROCORE,
                "entity_type": "payment",
                "data": {"updated_at": "2026-01-01"},
            }
        ),
        400,
        "VALIDATION_ERROR",
    )
    # Ids with a NUL byte (which PostgreSQL text cannot hold) name no record; data with one could
    # never be stored: refused. A lone surrogate is not text at all: refused as a bad request.
    bodies = []
    for bad in ("pay_\x00", "\x04~\x00c", "pay_\udbec"):
        bodies += [
            ({"canonical_id": bad, "entity_type": "payment", "data": {}}, 404),
            ({"format": "platform", "platform": "procore", "platform_id": bad, "entity_type": "payment", "data": {}},
             404),
            ({"canonical_id": canonical_id, "entity_type": "payment", "data": {"notes": f"a{bad}b"}}, 400),
            ({"format": "platform", "platform": "procore", "platform_id": PAYMENT_PROCORE, "entity_type": "payment",
              "data": {"notes": f"a{bad}b"}}, 400),
        ]
    # Integers beyond 64 bits (JSON allows them; the request hash must too): not found, unknown field.
    huge = 10**30
    bodies += [
        ({"format": "platform", "platform": "dynamics", "platform_id": "nope", "entity_type": "payment",
          "data": {"amount": huge}}, 404),
        ({"canonical_id": canonical_id, "entity_type": "payment", "data": {"colour": [huge]}}, 400),
    ]
    for body, status in bodies:
        resp = await post(body)
        if any("\udbec" in str(value) for value in (*body.values(), *body["data"].values())):
            assert resp.status_code in (400, 404), resp.text
            assert_error(resp, resp.status_code, "VALIDATION_ERROR" if resp.status_code == 400 else "NOT_FOUND")
        else:
            assert_error(resp, status, "VALIDATION_ERROR" if status == 400 else "NOT_FOUND")
    # nothing was written by any of them
    async with sessionmaker() as s:
        assert (
            await s.execute(text("SELECT count(*) FROM propagations WHERE customer_id = :c"), {"c": customer})
        ).scalar_one() == 0
        assert (
            await s.execute(text("SELECT version FROM canonical_objects WHERE id = :i"), {"i": canonical_id})
        ).scalar_one() == 1


async def test_idempotency_key(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    _, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    body = {"canonical_id": canonical_id, "entity_type": "payment", "data": {"notes": "once"}}
    key = {**h, "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first, second = await asyncio.gather(
        api.post("/api/v1/propagate", json=body, headers=key), api.post("/api/v1/propagate", json=body, headers=key)
    )
    third = await api.post("/api/v1/propagate", json=body, headers=key)
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json() == second.json() == third.json()
    async with sessionmaker() as s:
        version = (
            await s.execute(text("SELECT version FROM canonical_objects WHERE id = :i"), {"i": canonical_id})
        ).scalar_one()
        writes = (
            await s.execute(
                text("SELECT count(*) FROM platform_writes WHERE propagation_id = :p"),
                {"p": first.json()["data"]["propagation_id"]},
            )
        ).scalar_one()
    assert version == 2 and writes == 2
    other = await api.post("/api/v1/propagate", json={**body, "data": {"notes": "different"}}, headers=key)
    assert_error(other, 409, "CONFLICT_ERROR")


async def test_concurrent_propagates_are_serialised(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    bodies = [
        {
            "canonical_id": canonical_id,
            "entity_type": "payment",
            "data": {"notes": f"note {i}", "amount": {"amount": 100000000 + i, "currency": "USD"}},
        }
        for i in range(8)
    ]
    responses = await asyncio.gather(*(api.post("/api/v1/propagate", json=b, headers=h) for b in bodies))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    async with sessionmaker() as s:
        final = (
            await s.execute(text("SELECT data, version FROM canonical_objects WHERE id = :i"), {"i": canonical_id})
        ).one()
        versions = sorted(
            (
                await s.execute(
                    text("SELECT canonical_version FROM propagations WHERE canonical_id = :i"), {"i": canonical_id}
                )
            ).scalars()
        )
    assert versions == list(range(2, 10))  # one serial order, no lost update
    dyn = await payment(api, h, "dynamics", PAYMENT_DYNAMICS)
    pro = await payment(api, h, "procore", PAYMENT_PROCORE)
    assert dyn["platform_data"]["description"] == final.data["notes"] == pro["platform_data"]["notes"]
    expected_qar = Decimal(convert_minor(final.data["amount"]["amount"], "USD", "QAR")) / 100
    assert Decimal(str(dyn["platform_data"]["amount"])) == expected_qar
    assert Decimal(pro["platform_data"]["amount"]) * 100 == final.data["amount"]["amount"]


async def test_rate_limit_301st_request(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    _, h = await connected(api, sessionmaker)
    body = {"canonical_id": "pay_000000000000000", "entity_type": "payment", "data": {}}
    statuses = [(await api.post("/api/v1/propagate", json=body, headers=h)).status_code for _ in range(301)]
    assert statuses.count(429) == 1 and statuses[-1] == 429
    assert statuses[:300] == [404] * 300
    last = await api.post("/api/v1/propagate", json=body, headers=h)
    assert_error(last, 429, "RATE_LIMIT_ERROR")
    assert 1 <= int(last.headers["Retry-After"]) <= 60


async def test_customers_are_isolated(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    _, h = await connected(api, sessionmaker)
    _, stranger = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    resp = await api.post(
        "/api/v1/propagate",
        headers=stranger,
        json={"canonical_id": canonical_id, "entity_type": "payment", "data": {"notes": "not yours"}},
    )
    assert_error(resp, 404, "NOT_FOUND")
    mine = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={"canonical_id": canonical_id, "entity_type": "payment", "data": {"notes": "mine"}},
    )
    pid = mine.json()["data"]["propagation_id"]
    assert_error(await api.get(f"/api/v1/propagations/{pid}", headers=stranger), 404, "NOT_FOUND")


async def test_a_field_the_target_computes_fails_that_target_before_writing(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # Procore sets a contract payment's status itself (not in the payment's write schema): a change
    # of it cannot reach Procore, and the answer says so instead of reporting a write that never applied.
    customer, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]

    async def procore_record() -> Any:
        async with sessionmaker() as s:
            row = await s.execute(
                text(
                    "SELECT data, applied_version FROM platform_objects "
                    "WHERE customer_id = :c AND platform = 'procore' AND platform_id = :p"
                ),
                {"c": customer, "p": PAYMENT_PROCORE},
            )
            return row.one()

    before = await procore_record()
    body = await _propagate_payment(api, h, canonical_id, {"status": "paid"})
    assert "procore" not in body["propagated"]
    assert body["failed"]["procore"] == (
        "not written to Procore: status cannot be written to Procore "
        "(status: set by Procore, not in the contract payment's write schema)"
    )
    assert await procore_record() == before  # the Procore record was not touched
    assert body["propagated"]["dynamics"]  # the other platform took the change

    # Beside a field Procore takes, the status is left out and noted: it never holds the other back.
    both = await _propagate_payment(api, h, canonical_id, {"status": "void", "notes": "voided"})
    assert both["propagated"]["procore"]["data"]["notes"] == "voided"
    assert both["propagated"]["procore"]["data"]["status"] == "pending"
    assert both["propagated"]["procore"]["writeNote"].startswith("not written to Procore: status cannot be written")
    targets = (await api.get(f"/api/v1/propagations/{both['propagation_id']}", headers=h)).json()["data"]["targets"]
    procore = next(t for t in targets if t["platform"] == "procore")
    assert procore["status"] == "synced"
    assert procore["error"] == (
        "not written to Procore: status cannot be written to Procore "
        "(status: set by Procore, not in the contract payment's write schema)"
    )


async def test_text_over_the_targets_limit_fails_that_target_before_writing(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # A Procore note of 500 characters cannot be a Business Central payment description ($metadata:
    # MaxLength 100): BC is failed with the reason, Procore takes it.
    _, h = await connected(api, sessionmaker)
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    body = await _propagate_payment(api, h, canonical_id, {"notes": "n" * 500})
    assert body["failed"]["dynamics"] == (
        "not written to Business Central: description is 500 characters; Business Central takes at most 100"
    )
    assert body["propagated"]["procore"]["data"]["notes"] == "n" * 500


async def _propagate_payment(api: httpx.AsyncClient, h: dict[str, str], canonical_id: str, data: dict[str, Any]) -> Any:
    resp = await api.post(
        "/api/v1/propagate", headers=h, json={"canonical_id": canonical_id, "entity_type": "payment", "data": data}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]
