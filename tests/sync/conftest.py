"""Fixtures of the continuous-sync tests (helpers: ``tests.fixtures.sync``)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from tests.fixtures.sync import customer_of, first_checks


@pytest.fixture
async def customer(live: str, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client) -> str:
    """The live customer's id, once its connections' first subscription checks have finished."""
    found = await customer_of(sessionmaker, live)
    await first_checks(temporal_client, found)
    return found
