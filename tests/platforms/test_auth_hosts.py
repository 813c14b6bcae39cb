"""Where each live client asks for its token: the platform's real login host for its real API hosts,
the connection's `auth_url` when it names one, else the base URL (the emulators serve both roles)."""

from __future__ import annotations

import pytest

from platforms.dynamics import client as bc
from platforms.procore import client as procore


@pytest.mark.parametrize(
    ("base_url", "auth_url", "expected"),
    [
        ("https://api.procore.com", None, "https://login.procore.com"),
        ("https://api.procore.com/", None, "https://login.procore.com"),
        ("https://sandbox.procore.com", None, "https://login-sandbox.procore.com"),
        ("http://127.0.0.1:8101", None, "http://127.0.0.1:8101"),
        ("https://api.procore.com", "https://login-proxy.example.com/", "https://login-proxy.example.com"),
    ],
)
def test_procore_token_host(base_url: str, auth_url: str | None, expected: str) -> None:
    assert procore.auth_base(base_url, auth_url) == expected


@pytest.mark.parametrize(
    ("base_url", "auth_url", "expected"),
    [
        ("https://api.businesscentral.dynamics.com", None, "https://login.microsoftonline.com"),
        ("https://api.businesscentral.dynamics.com/", None, "https://login.microsoftonline.com"),
        ("http://127.0.0.1:8102", None, "http://127.0.0.1:8102"),
        ("https://api.businesscentral.dynamics.com", "https://login.microsoftonline.us", "https://login.microsoftonline.us"),
    ],
)
def test_business_central_token_host(base_url: str, auth_url: str | None, expected: str) -> None:
    assert bc.auth_base(base_url, auth_url) == expected
