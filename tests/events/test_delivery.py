"""Event delivery to a real local receiver: signed per Standard Webhooks (verified with the
`standardwebhooks` package), in order, each event until acknowledged, never a different body under
the same id, whatever the receiver does (500, 429 with Retry-After, hangs, is down); rotation,
disabling, redelivery, and customers isolated."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from settings import Settings
from tests.events.conftest import add_endpoint, change, eventually, feed
from tests.events.receiver import Answer, EventReceiver, Got, receiving
from tests.fixtures.net import free_port

pytestmark = pytest.mark.usefixtures("worker")


def _verify(secret: str, got: Got) -> Any:
    return Webhook(secret).verify(got.body, got.headers)


def _one_body_per_id(receiver: EventReceiver) -> None:
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for got in receiver.got:
        bodies[got.id].add(got.body)
    assert all(len(b) == 1 for b in bodies.values()), bodies


async def _wanted(api: httpx.AsyncClient, h: dict[str, str], after: str | None = None) -> list[str]:
    return [e["id"] for e in await feed(api, h) if e["type"] == "propagation.synced"]


async def test_events_arrive_signed_and_in_order(api: httpx.AsyncClient, customer: dict[str, str]) -> None:
    with receiving() as receiver:
        endpoint = await add_endpoint(api, customer, receiver.url, event_types=["propagation.synced"])
        for n in range(4):
            await change(api, customer, n)
        wanted = await _wanted(api, customer)
        assert len(wanted) == 4
        await eventually(lambda: receiver.ids() == wanted)
        events = {e["id"]: e for e in await feed(api, customer)}
        for got in receiver.acknowledged():
            body = _verify(endpoint["secret"], got)
            assert body == events[got.id]  # the feed and the webhook carry the same event
        with pytest.raises(Exception, match="No matching signature"):
            Webhook("whsec_" + "A" * 43 + "=").verify(receiver.got[0].body, receiver.got[0].headers)
        log = (await api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=customer)).json()
        assert [(a["event_id"], a["outcome"], a["status_code"]) for a in log["data"]] == [
            (i, "delivered", 200) for i in wanted
        ]


async def test_a_failing_receiver_gets_every_event_in_order_eventually(
    api: httpx.AsyncClient, customer: dict[str, str]
) -> None:
    """500, 429 with Retry-After, a hang past the timeout, a 400: each a failed attempt, retried;
    nothing skipped, nothing reordered, the same body under an id every time."""
    with receiving() as receiver:
        receiver.then(
            Answer(500),
            Answer(429, {"Retry-After": "1"}),
            Answer(200, hang=2.5, too_late=True),  # past WEBHOOK_TIMEOUT_SECONDS: a failure, whatever it says
            Answer(400),
            Answer(503, {"Retry-After": "0"}),
        )
        endpoint = await add_endpoint(api, customer, receiver.url, event_types=["propagation.synced"])
        for n in range(3):
            await change(api, customer, n)
        wanted = await _wanted(api, customer)
        await eventually(lambda: receiver.ids() == wanted, within=30)
        _one_body_per_id(receiver)
        assert receiver.got[0].id == wanted[0] and [g.status for g in receiver.got[:5]] == [500, 429, 0, 400, 503]
        assert {g.id for g in receiver.got[:5]} == {wanted[0]}  # the head event, until acknowledged
        log = (await api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=customer)).json()
        first = [a for a in log["data"] if a["event_id"] == wanted[0]]
        assert [a["attempt"] for a in first] == [1, 2, 3, 4, 5, 6]
        assert [a["outcome"] for a in first] == ["failed"] * 5 + ["delivered"]
        assert first[2]["error"].startswith("timed out") and first[1]["status_code"] == 429
        assert all(a["next_attempt_at"] for a in first[:5])
        # The Retry-After of the 429 was waited out (1 s), not the schedule's 0.6 s.
        from datetime import datetime

        gap = datetime.fromisoformat(first[2]["at"]) - datetime.fromisoformat(first[1]["at"])
        assert gap.total_seconds() >= 0.95, gap
        shown = (await api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=customer)).json()["data"]
        assert shown["failures"] == 0 and shown["failing_since"] is None


async def test_a_receiver_down_for_a_while_gets_everything_when_back(
    api: httpx.AsyncClient, customer: dict[str, str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    endpoint = await add_endpoint(api, customer, url, event_types=["propagation.synced"])
    for n in range(3):
        await change(api, customer, n)
    wanted = await _wanted(api, customer)

    async def failed_twice() -> bool:
        log = await api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=customer)
        return len(log.json()["data"]) >= 2

    await eventually(failed_twice)
    with receiving(port) as receiver:
        await eventually(lambda: receiver.ids() == wanted, within=30)
    log = (await api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=customer)).json()["data"]
    assert {a["error"].split(":")[0] for a in log if a["outcome"] == "failed"} == {"ConnectError"}


async def test_rotation_keeps_deliveries_verifiable(api: httpx.AsyncClient, customer: dict[str, str]) -> None:
    with receiving() as receiver:
        endpoint = await add_endpoint(api, customer, receiver.url, event_types=["propagation.synced"])
        await change(api, customer, 0)
        await eventually(lambda: len(receiver.ids()) == 1)
        rotated = await api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=customer)
        new_secret = rotated.json()["data"]["secret"]
        await change(api, customer, 1)
        await eventually(lambda: len(receiver.ids()) == 2)
        after = receiver.acknowledged()[1]
        _verify(endpoint["secret"], after)  # receivers still holding the old secret during the grace period
        _verify(new_secret, after)
        with pytest.raises(Exception, match="No matching signature"):
            _verify(new_secret, receiver.acknowledged()[0])


async def test_an_endpoint_failing_too_long_is_disabled_and_resumes_when_enabled(
    api: httpx.AsyncClient, customer: dict[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "webhook_disable_after_seconds", 1.0)
    with receiving() as receiver:
        receiver.default = Answer(500)
        endpoint = await add_endpoint(api, customer, receiver.url, event_types=["propagation.synced"])
        path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
        await change(api, customer, 0)

        async def disabled() -> bool:
            return (await api.get(path, headers=customer)).json()["data"]["enabled"] is False

        await eventually(disabled)
        shown = (await api.get(path, headers=customer)).json()["data"]
        assert shown["disabled_reason"].startswith("failing since") and "HTTP 500" in shown["disabled_reason"]
        [notice] = [e for e in await feed(api, customer) if e["type"] == "webhook_endpoint.disabled"]
        assert notice["data"]["endpoint_id"] == endpoint["id"]
        await change(api, customer, 1)  # recorded while disabled: delivered once enabled
        monkeypatch.setattr(settings, "webhook_disable_after_seconds", 3600.0)
        receiver.default = Answer(200)
        enabled = await api.patch(path, headers=customer, json={"enabled": True})
        assert enabled.json()["data"]["enabled"] is True and enabled.json()["data"]["disabled_reason"] is None
        wanted = await _wanted(api, customer)
        assert len(wanted) == 2
        await eventually(lambda: receiver.ids() == wanted)


async def test_redelivery_of_one_event_and_of_everything_since_a_time(
    api: httpx.AsyncClient, customer: dict[str, str]
) -> None:
    with receiving() as receiver:
        endpoint = await add_endpoint(api, customer, receiver.url, event_types=["propagation.synced"])
        for n in range(3):
            await change(api, customer, n)
        wanted = await _wanted(api, customer)
        await eventually(lambda: receiver.ids() == wanted)
        path = f"/api/v1/webhook-endpoints/{endpoint['id']}/redeliver"
        one = await api.post(path, headers=customer, json={"event_id": wanted[1]})
        assert one.status_code == 202 and one.json()["data"]["queued"] == 1
        await eventually(lambda: receiver.ids() == [*wanted, wanted[1]])
        events = {e["id"]: e for e in await feed(api, customer)}
        since = events[wanted[1]]["timestamp"]
        again = await api.post(path, headers=customer, json={"since": since})
        assert again.status_code == 202 and again.json()["data"]["queued"] >= 2
        await eventually(lambda: receiver.ids() == [*wanted, wanted[1], wanted[1], wanted[2]])
        _one_body_per_id(receiver)


async def test_each_customer_receives_only_its_own_events(
    api: httpx.AsyncClient, customer: dict[str, str], sessionmaker: Any
) -> None:
    from tests.fixtures.propagate import connected

    _, other = await connected(api, sessionmaker)
    with receiving() as mine, receiving() as theirs:
        await add_endpoint(api, customer, mine.url)
        await add_endpoint(api, other, theirs.url)
        await change(api, customer, 0)
        await change(api, other, 1)
        await change(api, customer, 2)
        my_ids = [e["id"] for e in await feed(api, customer) if e["type"] == "propagation.synced"]
        their_ids = [e["id"] for e in await feed(api, other) if e["type"] == "propagation.synced"]
        await eventually(lambda: mine.ids() == my_ids and theirs.ids() == their_ids)
        assert {g.json()["customer_id"] for g in mine.acknowledged()} != {
            g.json()["customer_id"] for g in theirs.acknowledged()
        }
