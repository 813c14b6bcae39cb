"""Live mode against the emulators over real HTTP: connect, write, conflicts, lost responses, throttling."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.customers import create_customer
from tests.fixtures.connect import TYPES, links
from tests.fixtures.live import canonical_payment, control, live_settings, propagate, silence_webhooks, writes
from tests.fixtures.net import auth
from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE

pytestmark = pytest.mark.usefixtures("worker")


async def test_live_connect_matches_sandbox(api: httpx.AsyncClient, live: str, demo_key: str) -> None:
    resp = await api.get("/api/v1/connections", headers=auth(live))
    assert resp.status_code == 200, resp.text
    conns = resp.json()["data"]["connections"]
    assert {(c["platform"], c["mode"], c["entities_synced"]) for c in conns} == {
        ("procore", "live", 38),
        ("dynamics", "live", 36),
    }
    for platform in ("procore", "dynamics"):
        assert (
            await api.post("/api/v1/connect", json={"platform": platform}, headers=auth(demo_key))
        ).status_code == 200
    assert await links(api, live) == await links(api, demo_key)
    assert {t for t, _, _ in await links(api, live)} == set(TYPES)


async def test_live_propagate_writes_the_platform(api: httpx.AsyncClient, live: str, emulators: Any) -> None:
    cid = await canonical_payment(api, auth(live))
    body = await propagate(
        api, auth(live), cid, {"amount": {"amount": 175000000, "currency": "USD"}, "notes": "Updated payment amount"}
    )
    dyn = body["propagated"]["dynamics"]
    assert dyn["writeStatus"] == "synced", dyn
    remote = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    assert remote["description"] == "Updated payment amount"
    assert Decimal(str(remote["amount"])) == Decimal("6370000")
    assert body["propagated"]["procore"]["writeStatus"] == "synced"
    remote_pc = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    assert remote_pc["amount"] in ("1750000.00", "1750000.0") and remote_pc["notes"] == "Updated payment amount"
    assert len(await writes(emulators, "dynamics", PAYMENT_DYNAMICS)) == 1


async def test_out_of_band_edit_is_a_conflict(api: httpx.AsyncClient, live: str, emulators: Any) -> None:
    cid = await canonical_payment(api, auth(live))
    await control(
        emulators,
        "dynamics",
        "PATCH",
        f"/records/payment/{PAYMENT_DYNAMICS}",
        json={"fields": {"description": "edited by a human in BC"}},
    )
    body = await propagate(api, auth(live), cid, {"notes": "ours"})
    dyn = body["propagated"]["dynamics"]
    assert dyn["writeStatus"] == "conflict" and dyn["writeError"]
    assert dyn["conflictData"]["description"] == "edited by a human in BC"
    remote = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    assert remote["description"] == "edited by a human in BC"  # nothing overwritten
    assert await writes(emulators, "dynamics", PAYMENT_DYNAMICS) == []
    # the caller looked at it and overwrites explicitly
    body = await propagate(api, auth(live), cid, {"notes": "ours, really"}, overwrite=True)
    assert body["propagated"]["dynamics"]["writeStatus"] == "synced"
    remote = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    assert remote["description"] == "ours, really"


async def test_overwrite_with_no_canonical_change_writes_the_platforms_left_in_conflict(
    api: httpx.AsyncClient, live: str, emulators: Any
) -> None:
    """The documented way out of a conflict: the same request again with overwrite=true. Canonical
    does not change (it already holds the value), yet the platform in conflict gets it written."""
    await silence_webhooks(emulators)  # the out-of-band edit stays on BC alone, as in the report
    cid = await canonical_payment(api, auth(live))
    await control(
        emulators,
        "dynamics",
        "PATCH",
        f"/records/payment/{PAYMENT_DYNAMICS}",
        json={"fields": {"description": "edited by a human in BC"}},
    )
    first = await propagate(api, auth(live), cid, {"notes": "ours"})
    assert first["propagated"]["dynamics"]["writeStatus"] == "conflict", first
    again = await propagate(api, auth(live), cid, {"notes": "ours"}, overwrite=True)
    assert again["canonical"]["updated_fields"] == []
    assert again["status"] == "synced", again
    assert again["propagated"]["dynamics"]["writeStatus"] == "synced", again
    assert "procore" not in again["propagated"]  # it was synced: left alone
    remote = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    assert remote["description"] == "ours"
    assert len(await writes(emulators, "dynamics", PAYMENT_DYNAMICS)) == 1
    # Now nothing is left in conflict: a plain or overwriting no-op writes nothing.
    for overwrite in (False, True):
        noop = await propagate(api, auth(live), cid, {"notes": "ours"}, overwrite=overwrite)
        assert noop["status"] == "noop" and noop["propagated"] == {}, noop
    assert len(await writes(emulators, "dynamics", PAYMENT_DYNAMICS)) == 1


async def test_lost_response_is_synced_with_one_write(api: httpx.AsyncClient, live: str, emulators: Any) -> None:
    cid = await canonical_payment(api, auth(live))
    await control(
        emulators, "dynamics", "POST", "/faults", json={"kind": "drop_after_apply", "count": 1, "method": "PATCH"}
    )
    body = await propagate(api, auth(live), cid, {"notes": "applied once"})
    assert body["propagated"]["dynamics"]["writeStatus"] == "synced"
    assert len(await writes(emulators, "dynamics", PAYMENT_DYNAMICS)) == 1


@pytest.mark.parametrize("kind", ["rate_limit", "unavailable"])
async def test_throttling_and_outages_are_retried(api: httpx.AsyncClient, live: str, emulators: Any, kind: str) -> None:
    cid = await canonical_payment(api, auth(live))
    await control(
        emulators, "dynamics", "POST", "/faults", json={"kind": kind, "count": 2, "method": "PATCH", "retry_after": 1}
    )
    body = await propagate(api, auth(live), cid, {"notes": f"after {kind}"})
    assert body["propagated"]["dynamics"]["writeStatus"] == "synced"
    remote = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    assert remote["description"] == f"after {kind}"


async def test_platform_validation_error_is_failed(api: httpx.AsyncClient, live: str, emulators: Any) -> None:
    cid = await canonical_payment(api, auth(live))
    # an ERP integration claimed the Procore payment: Procore refuses edits with 422
    await control(
        emulators, "procore", "PATCH", f"/records/payment/{PAYMENT_PROCORE}", json={"fields": {"origin_id": "ERP-1"}}
    )
    # the lock edit itself moved updated_at (a conflict); overwrite to reach Procore's validation
    body = await propagate(api, auth(live), cid, {"notes": "locked?"}, overwrite=True)
    pc = body["propagated"]["procore"]
    assert pc["writeStatus"] == "failed" and "422" in pc["writeError"]
    assert body["propagated"]["dynamics"]["writeStatus"] == "synced"


@pytest.mark.parametrize("platform", ["procore", "dynamics"])
async def test_the_token_comes_from_the_auth_url(
    api: httpx.AsyncClient, emulators: Any, sessionmaker: async_sessionmaker[AsyncSession], platform: str
) -> None:
    """An explicit `auth_url` is where the client asks for its token: the platform's own emulator
    (it serves both roles) connects; the other platform's emulator has no such token endpoint, so the
    connect fails, which it could not if the token still came from `base_url`."""
    async with sessionmaker() as s:
        created = await create_customer(s, name=f"auth-{uuid.uuid4().hex[:6]}", environment="test")
        await s.commit()
    h = auth(created.api_key)
    own = live_settings(emulators, platform)
    other = emulators.dynamics_url if platform == "procore" else emulators.procore_url
    resp = await api.post(
        "/api/v1/connect",
        headers=h,
        json={"platform": platform, "mode": "live", "settings": {**own, "auth_url": own["base_url"]}},
    )
    assert resp.status_code == 200, resp.text
    resp = await api.post(
        "/api/v1/connect", headers=h, json={"platform": platform, "mode": "live", "settings": {**own, "auth_url": other}}
    )
    assert resp.status_code == 502, resp.text
    assert "failed" in resp.json()["error"]["message"]


async def test_a_write_the_platform_answers_2xx_but_does_not_apply_is_failed(
    api: httpx.AsyncClient, live: str, emulators: Any
) -> None:
    cid = await canonical_payment(api, auth(live))
    await control(emulators, "procore", "PATCH", "/settings", json={"ignored_fields": ["notes"]})
    try:
        body = await propagate(api, auth(live), cid, {"notes": "Not applied by Procore"})
    finally:
        await control(emulators, "procore", "PATCH", "/settings", json={"ignored_fields": []})
    procore = body["propagated"]["procore"]
    assert procore["writeStatus"] == "failed", procore
    assert procore["writeError"] == (
        "Procore accepted the write but did not apply notes "
        "(sent 'Not applied by Procore', reads 'Substructure progress payment #1')"
    )
    assert body["propagated"]["dynamics"]["writeStatus"] == "synced"
    remote = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    assert remote["notes"] != "Not applied by Procore"
    # The record stays due for the change: a retry, once Procore applies the field, writes it.
    retried = await api.post(f"/api/v1/propagations/{body['propagation_id']}/retry", headers=auth(live))
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["propagated"]["procore"]["writeStatus"] == "synced"
    remote = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    assert remote["notes"] == "Not applied by Procore"


async def test_a_write_only_field_is_written_and_held_as_sent(api: httpx.AsyncClient, live: str, emulators: Any) -> None:
    # Procore takes a payment's payment_method but shows it in no response: the write is not
    # mistaken for one that did not apply.
    cid = await canonical_payment(api, auth(live))
    body = await propagate(api, auth(live), cid, {"payment_method": "electronic"})
    procore = body["propagated"]["procore"]
    assert procore["writeStatus"] == "synced", procore
    remote = (await control(emulators, "procore", "GET", f"/records/payment/{PAYMENT_PROCORE}")).json()
    assert remote["payment_method"] == "electronic"
    assert [w["changes"] for w in await writes(emulators, "procore", PAYMENT_PROCORE)] == [
        {"payment_method": {"old": None, "new": "electronic"}}
    ]
