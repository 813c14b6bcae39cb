"""The webhook endpoints API: create (secret shown once), read, change, rotate, delete; URLs that
could reach the private network refused; endpoints of other customers not found."""

from __future__ import annotations

import httpx
import pytest

from tests.events.conftest import add_endpoint
from tests.fixtures.api import assert_error

pytestmark = pytest.mark.usefixtures("worker")

RECEIVER = "http://127.0.0.1:9/hooks"  # an allowed development host; nothing is delivered in these tests


async def test_an_endpoint_is_created_read_changed_rotated_and_deleted(
    api: httpx.AsyncClient, customer: dict[str, str], demo_key: str
) -> None:
    made = await add_endpoint(api, customer, RECEIVER, event_types=["propagation.synced"], description="ERP bridge")
    assert made["secret"].startswith("whsec_") and made["id"].startswith("we_")
    assert made["event_types"] == ["propagation.synced"] and made["enabled"] is True
    shown = (await api.get(f"/api/v1/webhook-endpoints/{made['id']}", headers=customer)).json()["data"]
    assert "secret" not in shown and shown["description"] == "ERP bridge"
    listed = (await api.get("/api/v1/webhook-endpoints", headers=customer)).json()["data"]
    assert [e["id"] for e in listed] == [made["id"]]
    changed = await api.patch(
        f"/api/v1/webhook-endpoints/{made['id']}", headers=customer, json={"enabled": False, "event_types": None}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["enabled"] is False and changed.json()["data"]["event_types"] == []
    rotated = (await api.post(f"/api/v1/webhook-endpoints/{made['id']}/rotate-secret", headers=customer)).json()
    assert rotated["data"]["secret"] != made["secret"] and rotated["data"]["previous_secret_expires_at"]
    # Another customer finds none of it.
    other = {"Authorization": f"Bearer {demo_key}"}
    assert_error(await api.get(f"/api/v1/webhook-endpoints/{made['id']}", headers=other), 404, "NOT_FOUND")
    assert (await api.get("/api/v1/webhook-endpoints", headers=other)).json()["data"] == []
    assert_error(await api.delete(f"/api/v1/webhook-endpoints/{made['id']}", headers=other), 404, "NOT_FOUND")
    gone = await api.delete(f"/api/v1/webhook-endpoints/{made['id']}", headers=customer)
    assert gone.json()["data"] == {"id": made["id"], "deleted": True}
    assert_error(await api.get(f"/api/v1/webhook-endpoints/{made['id']}", headers=customer), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hooks", "must be https"),
        ("https://10.1.2.3/hooks", "not public"),
        ("https://169.254.169.254/latest/meta-data", "not public"),
        ("https://[::1]/hooks", "not public"),
        ("https://192.168.0.10:8443/hooks", "not public"),
        ("https://[::ffff:10.0.0.1]/hooks", "not public"),
        ("https://[64:ff9b::7f00:1]/hooks", "not public"),
        ("https://[2002:a00:1::]/hooks", "not public"),
        ("https://[::127.0.0.1]/hooks", "not public"),
        ("https://user:pw@example.com/hooks", "credentials"),
        ("ftp://example.com/hooks", "https"),
        ("https://does-not-exist.invalid/hooks", "does not resolve"),
    ],
)
async def test_urls_into_the_private_network_are_refused(
    api: httpx.AsyncClient, customer: dict[str, str], url: str, why: str
) -> None:
    resp = await api.post("/api/v1/webhook-endpoints", headers=customer, json={"url": url})
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert why in body["message"], body
    assert (await api.get("/api/v1/webhook-endpoints", headers=customer)).json()["data"] == []


async def test_bad_endpoint_requests_change_nothing(api: httpx.AsyncClient, customer: dict[str, str]) -> None:
    made = await add_endpoint(api, customer, RECEIVER)
    for body in (
        {"url": RECEIVER, "description": "nul \u0000 inside"},
        {"url": RECEIVER, "event_types": ["nope"]},
        {"url": RECEIVER, "secret": "mine"},
        {"url": "not a url"},
        {},
    ):
        assert_error(await api.post("/api/v1/webhook-endpoints", headers=customer, json=body), 400, "VALIDATION_ERROR")
    path = f"/api/v1/webhook-endpoints/{made['id']}"
    for patch in ({"url": "https://10.0.0.1/x"}, {"enabled": None}, {"event_types": ["nope"]}, {"id": "we_x"}):
        assert_error(await api.patch(path, headers=customer, json=patch), 400, "VALIDATION_ERROR")
    assert (await api.get(path, headers=customer)).json()["data"]["url"] == RECEIVER
    redeliver = f"{path}/redeliver"
    assert_error(await api.post(redeliver, headers=customer, json={}), 400, "VALIDATION_ERROR")
    both = {"event_id": "evt_x", "since": "2026-01-01T00:00:00Z"}
    assert_error(await api.post(redeliver, headers=customer, json=both), 400, "VALIDATION_ERROR")
    assert_error(await api.post(redeliver, headers=customer, json={"event_id": "evt_x"}), 404, "NOT_FOUND")
    assert_error(await api.post(redeliver, headers=customer, json={"event_id": "evt\u0000"}), 400, "VALIDATION_ERROR")
    assert_error(await api.patch(path, headers=customer, json={"description": "\u0000"}), 400, "VALIDATION_ERROR")
    odd = "/api/v1/webhook-endpoints/%C2%9C%C2%A71"
    assert_error(await api.patch(odd, headers=customer, json={"description": "x"}), 400, "VALIDATION_ERROR")
    naive = {"since": "2026-01-01T00:00:00"}
    assert_error(await api.post(redeliver, headers=customer, json=naive), 400, "VALIDATION_ERROR")
    assert_error(await api.get("/api/v1/webhook-endpoints/we_nope/deliveries", headers=customer), 404, "NOT_FOUND")
