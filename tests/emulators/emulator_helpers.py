"""Helpers for the emulator tests: tokens, headers and the OData base path."""

from __future__ import annotations

import httpx

from emulators import dynamics, procore
from platforms.dynamics.demo_data import SPEC_PAYMENT_ID

BC_API = f"/v2.0/{dynamics.DEFAULT_TENANT}/{dynamics.DEFAULT_ENVIRONMENT}/api/v2.0"
BC_COMPANY = f"{BC_API}/companies({dynamics.COMPANY_ID})"
SPEC_PAYMENT = f"{BC_COMPANY}/customerPayments({SPEC_PAYMENT_ID})"


def procore_headers(client: httpx.Client) -> dict[str, str]:
    """A fresh DMSA token plus the company header, as every Procore call needs."""
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": procore.DEFAULT_CLIENT_ID,
            "client_secret": procore.DEFAULT_CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", "Procore-Company-Id": str(procore.COMPANY_ID)}


def bc_headers(client: httpx.Client) -> dict[str, str]:
    response = client.post(
        f"/{dynamics.DEFAULT_TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": dynamics.DEFAULT_CLIENT_ID,
            "client_secret": dynamics.DEFAULT_CLIENT_SECRET,
            "scope": dynamics.SCOPE,
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def add_fault(client: httpx.Client, **spec: object) -> dict[str, object]:
    response = client.post("/_control/faults", json=spec)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def writes(client: httpx.Client, **filters: str) -> list[dict[str, object]]:
    response = client.get("/_control/writes", params=filters)
    assert response.status_code == 200, response.text
    entries: list[dict[str, object]] = response.json()["writes"]
    return entries
