"""Bearer key authentication: missing, malformed, unknown and revoked keys all get the same 401."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.customers import create_customer, generate_key, revoke_key
from tests.fixtures.api import assert_error
from tests.fixtures.net import auth

PROTECTED = "/api/v1/demo/session"
MESSAGE = "Invalid or missing API key"


async def test_missing_key(api: httpx.AsyncClient) -> None:
    assert_error(await api.delete(PROTECTED), 401, "AUTHENTICATION_ERROR", MESSAGE)


async def test_malformed_header_and_prefix(api: httpx.AsyncClient) -> None:
    assert_error(
        await api.delete(PROTECTED, headers={"Authorization": "Basic abc"}),
        401,
        "AUTHENTICATION_ERROR",
        MESSAGE,
    )
    assert_error(await api.delete(PROTECTED, headers=auth("pk_live_123")), 401, "AUTHENTICATION_ERROR", MESSAGE)


async def test_unknown_key(api: httpx.AsyncClient) -> None:
    for mode in ("demo", "test", "live"):
        resp = await api.delete(PROTECTED, headers=auth(generate_key(mode)))
        assert_error(resp, 401, "AUTHENTICATION_ERROR", MESSAGE)


async def test_revoked_key(api: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        created = await create_customer(session, name="revoke-me", environment="test")
        await session.commit()
    # valid test key: authenticated, but not allowed to end a demo session -> 403, not 401
    assert_error(await api.delete(PROTECTED, headers=auth(created.api_key)), 403, "AUTHORIZATION_ERROR")
    async with sessionmaker() as session:
        assert await revoke_key(session, key_id=created.key_id) == 1
        await session.commit()
    assert_error(await api.delete(PROTECTED, headers=auth(created.api_key)), 401, "AUTHENTICATION_ERROR", MESSAGE)
