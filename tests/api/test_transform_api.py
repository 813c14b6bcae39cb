"""POST /transform over the API: the 422/400 contract, source == target, top-level shape, statelessness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from canonical.jsonio import dumps
from devstack.postgres import start_embedded
from platforms.procore.demo_data import demo_records
from settings import Settings
from store.customers import create_customer
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from tests.fixtures.api import assert_error, assert_headers
from tests.fixtures.net import auth, make_client


def procore(entity_type: str, native_id: int) -> dict[str, Any]:
    return next(r for r in demo_records()[entity_type] if r["id"] == native_id)


async def post(api: httpx.AsyncClient, key: str, body: dict[str, Any]) -> httpx.Response:
    # jsonio: native BC samples hold Decimal amounts, sent as exact JSON numbers
    return await api.post(
        "/api/v1/transform", content=dumps(body), headers={**auth(key), "Content-Type": "application/json"}
    )


async def test_payment_procore_to_dynamics(api: httpx.AsyncClient, demo_key: str) -> None:
    resp = await post(
        api,
        demo_key,
        {
            "source": "procore",
            "target": "dynamics",
            "entity_type": "payment",
            "data": procore("payment", 1823456),
            "context": {"targetCurrency": "QAR"},
        },
    )
    assert resp.status_code == 200, resp.text
    assert_headers(resp)
    body = resp.json()
    assert set(body) == {"canonical", "data", "metadata"}
    assert body["canonical"]["amount"] == {"amount": 170000000, "currency": "USD"}
    assert body["canonical"]["check_number"] == "CHK-2026-0101"
    assert body["data"]["documentNumber"] == "CHK-2026-0101"
    assert body["data"]["amount"] == 6188000  # 1,700,000.00 USD x 3.64, a JSON number
    meta = body["metadata"]
    assert meta["source"] == "procore" and meta["target"] == "dynamics" and meta["canonical_version"] == "1.0"
    assert meta["request_id"] == resp.headers["X-Request-ID"]
    assert meta["transformed_at"].endswith("Z")
    unresolved = {r["field"] for r in meta["references"]["unresolved"]}
    assert "invoice_id" in unresolved  # no id pairs given in context


async def test_references_resolved_from_context(api: httpx.AsyncClient, demo_key: str) -> None:
    resp = await post(
        api,
        demo_key,
        {
            "source": "procore",
            "target": "dynamics",
            "entity_type": "payment",
            "data": procore("payment", 1823456),
            "context": {
                "targetCurrency": "QAR",
                "references": {"invoice": {"10061": "c4e95b25-83c6-5f5b-9768-233c8cd1dd9a"}},
            },
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["appliesToInvoiceId"] == "c4e95b25-83c6-5f5b-9768-233c8cd1dd9a"
    resolved = resp.json()["metadata"]["references"]["resolved"]
    assert any(
        r["field"] == "invoice_id" and r["platform_id"] == "c4e95b25-83c6-5f5b-9768-233c8cd1dd9a" for r in resolved
    )


async def test_commitment_type_rule(api: httpx.AsyncClient, demo_key: str) -> None:
    contract = {k: v for k, v in procore("contract", 1945782).items() if k != "type"}
    body = {"source": "procore", "target": "dynamics", "entity_type": "contract", "data": contract}
    err = assert_error(await post(api, demo_key, body), 422, "TRANSFORM_ERROR")
    assert "context.commitmentType" in err["message"]
    ok = await post(api, demo_key, {**body, "context": {"commitmentType": "WorkOrderContract"}})
    assert ok.status_code == 200, ok.text
    # an unknown commitment type is a malformed request (the context schema lists the two)
    assert_error(
        await post(api, demo_key, {**body, "context": {"commitmentType": "Subcontract"}}), 400, "VALIDATION_ERROR"
    )


async def test_unmappable_data_names_the_field(api: httpx.AsyncClient, demo_key: str) -> None:
    payment = {**procore("payment", 1823456), "amount": "one million"}
    err = assert_error(
        await post(
            api, demo_key, {"source": "procore", "target": "dynamics", "entity_type": "payment", "data": payment}
        ),
        422,
        "TRANSFORM_ERROR",
    )
    assert "data.amount" in err["message"]
    wrong_type = {**procore("payment", 1823456), "check_number": ["x"]}
    err = assert_error(
        await post(
            api, demo_key, {"source": "procore", "target": "procore", "entity_type": "payment", "data": wrong_type}
        ),
        422,
        "TRANSFORM_ERROR",
    )
    assert "check_number" in err["message"]


async def test_bad_request_shape_is_400(api: httpx.AsyncClient, demo_key: str) -> None:
    base = {"source": "procore", "target": "dynamics", "entity_type": "payment", "data": {}}
    for bad in (
        {**base, "source": "sap"},
        {**base, "entity_type": "widget"},
        {**base, "data": [1, 2]},
        {k: v for k, v in base.items() if k != "data"},
        {**base, "extra": 1},
    ):
        assert_error(await post(api, demo_key, bad), 400, "VALIDATION_ERROR")
    assert_error(await api.post("/api/v1/transform", json=base), 401, "AUTHENTICATION_ERROR")


async def test_source_equals_target_round_trips(api: httpx.AsyncClient, demo_key: str) -> None:
    for entity_type, native_id in (("payment", 1823456), ("contract", 1945782), ("project", 341276)):
        record = procore(entity_type, native_id)
        resp = await post(
            api, demo_key, {"source": "procore", "target": "procore", "entity_type": entity_type, "data": record}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"] == record


async def test_all_nine_entity_types(api: httpx.AsyncClient, demo_key: str) -> None:
    from transform.samples import sample

    for entity_type in (
        "project",
        "customer",
        "contract",
        "invoice",
        "payment",
        "employee",
        "time_entry",
        "change_order",
        "budget_line_item",
    ):
        for source, target in (("procore", "dynamics"), ("dynamics", "procore")):
            resp = await post(
                api,
                demo_key,
                {
                    "source": source,
                    "target": target,
                    "entity_type": entity_type,
                    "data": sample(source, entity_type),
                    "context": {"commitmentType": "WorkOrderContract", "currency": "QAR"},
                },
            )
            assert resp.status_code == 200, (entity_type, source, resp.text)
            assert resp.json()["canonical"]["object"] == entity_type


async def test_stateless_no_database_access(tmp_root: Path, temporal_address: str) -> None:
    """Once the key is verified, /transform answers with the database stopped, and writes nothing."""
    pg = start_embedded(tmp_root / "pg-transform", delete_on_stop=True)
    try:
        url = pg.ensure_database("t")
        upgrade(url)
        engine = make_engine(url)
        sm: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
        async with sm() as s:
            key = (await create_customer(s, name="t", environment="demo")).api_key
            await s.commit()
        app = create_app(Settings(database_url=url, temporal_address=temporal_address))
        body = {
            "source": "procore",
            "target": "dynamics",
            "entity_type": "payment",
            "data": procore("payment", 1823456),
            "context": {"currency": "QAR"},
        }
        async with app.router.lifespan_context(app), make_client(app) as client:
            assert (await client.post("/api/v1/transform", json=body, headers=auth(key))).status_code == 200
            async with sm() as s:
                counts = [
                    (await s.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                    for t in ("canonical_objects", "platform_objects", "entity_mappings", "propagations")
                ]
            assert counts == [0, 0, 0, 0]
            await engine.dispose()
            pg.stop()
            resp = await client.post("/api/v1/transform", json=body, headers=auth(key))
            assert resp.status_code == 200, resp.text
    finally:
        pg.stop()


async def test_fast_endpoint_answers_as_the_documented_route(app: Any, api: httpx.AsyncClient, demo_key: str) -> None:
    """/transform is served by a plain Starlette endpoint mounted ahead of the FastAPI route that
    documents it (api/app.py): with it removed, every answer must be the same."""
    ok = {
        "source": "procore",
        "target": "dynamics",
        "entity_type": "payment",
        "data": procore("payment", 1823456),
        "context": {"currency": "QAR"},
    }
    requests: list[tuple[bytes, dict[str, str]]] = [
        (dumps(ok), auth(demo_key)),
        (dumps({**ok, "source": "sap"}), auth(demo_key)),
        (dumps({**ok, "data": [1, 2]}), auth(demo_key)),
        (dumps({**ok, "extra": 1, "context": {"commitmentType": "Subcontract"}}), auth(demo_key)),
        (dumps({k: v for k, v in ok.items() if k != "data"}), auth(demo_key)),
        (dumps({**ok, "entity_type": "contract", "data": procore("contract", 1945782) | {"type": None}}), auth(demo_key)),
        (b'{"source": "procore",', auth(demo_key)),  # malformed JSON
        (b"[]", auth(demo_key)),
        (b'{"source": "sap"}', {}),  # no key: 401 before the body is validated
        (b"{", {"Authorization": "Bearer sk_demo_wrong"}),  # malformed JSON: 400 before the key (as FastAPI)
    ]

    async def answers() -> list[tuple[int, Any]]:
        out = []
        for content, headers in requests:
            resp = await api.post(
                "/api/v1/transform", content=content, headers={**headers, "Content-Type": "application/json"}
            )
            body = resp.json()
            body.get("error", {}).pop("request_id", None)
            body.get("metadata", {}).pop("request_id", None)
            body.get("metadata", {}).pop("transformed_at", None)
            out.append((resp.status_code, body))
        return out

    fast = await answers()
    assert [status for status, _ in fast] == [200, 400, 400, 400, 400, 422, 400, 400, 401, 400]
    assert fast[6][1]["error"]["message"] == "Malformed JSON body"
    route = app.router.routes.pop(0)
    assert route.endpoint.__name__ == "fast_endpoint"
    try:
        documented = await answers()
    finally:
        app.router.routes.insert(0, route)
    assert fast == documented
