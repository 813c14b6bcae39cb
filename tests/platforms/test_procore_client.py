"""The Procore live client against the emulator over real HTTP: how long it waits when throttled."""

from __future__ import annotations

import httpx
import pytest

from emulators.procore import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ProcoreRateLimit, create_procore_app
from emulators.runner import serve_in_thread
from platforms.http import RetryableError
from platforms.procore.client import budget_of, connect
from platforms.procore.demo_data import COMPANY_ID

SECRETS = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}


@pytest.mark.parametrize("retry_after_header", [True, False])
async def test_a_throttled_request_waits_for_the_window_to_reset(retry_after_header: bool) -> None:
    # Procore's docs disagree on whether a 429 carries Retry-After; without it, X-Rate-Limit-Reset says
    # when the spike window frees a slot.
    limit = ProcoreRateLimit(hourly=100, spike=2, spike_seconds=10, retry_after_on_429=retry_after_header)
    with serve_in_thread(create_procore_app(rate_limit=limit)) as url:
        async with httpx.AsyncClient() as http:
            client = connect(http, {"base_url": url, "company_id": str(COMPANY_ID)}, SECRETS)
            params = {"company_id": COMPANY_ID}
            # Other worker processes spend the window: this one never sees the headers that say so.
            for _ in range(2):
                budget_of(url, DEFAULT_CLIENT_ID).limit = 0
                await client.request("GET", "/rest/v1.0/projects", params=params)
            budget_of(url, DEFAULT_CLIENT_ID).limit = 0
            with pytest.raises(RetryableError) as throttled:
                await client.request("GET", "/rest/v1.0/projects", params=params)
    assert throttled.value.status == 429
    assert throttled.value.retry_after is not None and 0 < throttled.value.retry_after <= 11


async def test_the_client_paces_itself_by_the_rate_headers_and_never_hits_a_429() -> None:
    # The spike window is short: the client waits it out in place, every request succeeds.
    limit = ProcoreRateLimit(hourly=1000, spike=3, spike_seconds=1)
    statuses: list[int] = []

    async def seen(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    with serve_in_thread(create_procore_app(rate_limit=limit)) as url:
        async with httpx.AsyncClient(event_hooks={"response": [seen]}) as http:
            client = connect(http, {"base_url": url, "company_id": str(COMPANY_ID)}, SECRETS)
            for _ in range(7):
                await client.request("GET", "/rest/v1.0/projects", params={"company_id": COMPANY_ID})
    assert statuses == [200] * 8  # the token, then seven lists


async def test_a_spent_hourly_budget_hands_the_work_back_without_sending() -> None:
    # The hourly window would be refused for up to an hour: the request is not sent, and the error
    # says how long to wait (Temporal retries the activity then).
    limit = ProcoreRateLimit(hourly=4, spike=100)
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    with serve_in_thread(create_procore_app(rate_limit=limit)) as url:
        async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
            client = connect(http, {"base_url": url, "company_id": str(COMPANY_ID)}, SECRETS)
            for _ in range(3):  # the last leaves 1, the reserve
                await client.request("GET", "/rest/v1.0/projects", params={"company_id": COMPANY_ID})
            with pytest.raises(RetryableError, match="request budget for this app is spent") as spent:
                await client.request("GET", "/rest/v1.0/projects", params={"company_id": COMPANY_ID})
    assert spent.value.status is None  # refused here, not by Procore
    assert spent.value.retry_after is not None and 3500 < spent.value.retry_after <= 3601
    assert len([r for r in sent if r.url.path != "/oauth/token"]) == 3
