"""The Procore live client against the emulator over real HTTP: how long it waits when throttled."""

from __future__ import annotations

import httpx
import pytest

from emulators.procore import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ProcoreRateLimit, create_procore_app
from emulators.runner import serve_in_thread
from platforms.http import RetryableError
from platforms.procore.client import connect
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
            for _ in range(2):
                await client.request("GET", "/rest/v1.0/projects", params=params)
            with pytest.raises(RetryableError) as throttled:
                await client.request("GET", "/rest/v1.0/projects", params=params)
    assert throttled.value.status == 429
    assert throttled.value.retry_after is not None and 0 < throttled.value.retry_after <= 11
