"""Live-mode connect rules that need no platform: who may, where to, and secrets kept secret."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from settings import Settings
from store.credentials import decrypt, encrypt
from store.customers import create_customer
from tests.fixtures.api import assert_error
from tests.fixtures.net import auth

LIVE = {"base_url": "http://127.0.0.1:8101", "client_id": "cid", "client_secret": "s3cret", "company_id": "42"}


async def _test_key(sm: async_sessionmaker[AsyncSession]) -> str:
    async with sm() as s:
        created = await create_customer(s, name=f"live-{uuid.uuid4().hex[:6]}", environment="test")
        await s.commit()
    return created.api_key


async def test_demo_key_cannot_go_live(api: httpx.AsyncClient, demo_key: str) -> None:
    resp = await api.post(
        "/api/v1/connect", headers=auth(demo_key), json={"platform": "procore", "mode": "live", "settings": LIVE}
    )
    assert_error(resp, 403, "AUTHORIZATION_ERROR", "Demo keys cannot create live connections")


async def test_base_url_must_be_allow_listed(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    key = await _test_key(sessionmaker)
    for url in ("https://evil.example.com", "http://127.0.0.1:81019", "http://10.0.0.5:8101"):
        resp = await api.post(
            "/api/v1/connect",
            headers=auth(key),
            json={"platform": "procore", "mode": "live", "settings": {**LIVE, "base_url": url}},
        )
        assert_error(resp, 403, "AUTHORIZATION_ERROR")
        assert "allow-list" in resp.json()["error"]["message"]


async def test_live_settings_validation(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], emulators: Any
) -> None:
    key = await _test_key(sessionmaker)
    live = {**LIVE, "base_url": emulators.procore_url}  # allow-listed, so the other rules are reached
    assert_error(
        await api.post("/api/v1/connect", headers=auth(key), json={"platform": "procore", "mode": "live"}),
        400,
        "VALIDATION_ERROR",
    )
    no_company = {k: v for k, v in live.items() if k != "company_id"}
    assert_error(
        await api.post(
            "/api/v1/connect", headers=auth(key), json={"platform": "procore", "mode": "live", "settings": no_company}
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        await api.post(
            "/api/v1/connect",
            headers=auth(key),
            json={"platform": "dynamics", "mode": "live", "settings": {**live, "base_url": emulators.dynamics_url}},
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        await api.post("/api/v1/connect", headers=auth(key), json={"platform": "procore", "settings": live}),
        400,
        "VALIDATION_ERROR",
    )


def test_credentials_round_trip_and_are_opaque(settings: Settings) -> None:
    token = encrypt(settings, {"client_id": "cid", "client_secret": "s3cret"})
    assert b"s3cret" not in token and b"cid" not in token
    assert decrypt(settings, token) == {"client_id": "cid", "client_secret": "s3cret"}


async def test_auth_url_must_be_allow_listed(
    api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], emulators: Any
) -> None:
    key = await _test_key(sessionmaker)
    live = {**LIVE, "base_url": emulators.procore_url, "auth_url": "https://login.evil.example.com"}
    resp = await api.post(
        "/api/v1/connect", headers=auth(key), json={"platform": "procore", "mode": "live", "settings": live}
    )
    assert_error(
        resp, 403, "AUTHORIZATION_ERROR", "settings.auth_url is not on this deployment's allow-list (LIVE_BASE_URL_ALLOWLIST)"
    )
