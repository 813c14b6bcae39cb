"""Live mode: connectors built from a connection's stored settings (each platform's `live_client`).

One `httpx.AsyncClient` per worker process (connection pooling); a connector per connection,
cached with its OAuth token until the connection's settings change.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from platforms.descriptor import LiveClient
from platforms.http import DEFAULT_TIMEOUT, RejectedError
from platforms.registry import get_platform
from settings import Settings
from store.connections import live_config
from store.credentials import decrypt


class Connectors:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._http = http or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self._cache: dict[tuple[uuid.UUID, str], tuple[bytes, LiveClient]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def client(
        self, session: AsyncSession, customer_id: uuid.UUID, platform: str
    ) -> LiveClient:
        config = await live_config(session, customer_id, platform)
        if config is None or config.mode != "live" or config.credentials is None or not config.live:
            raise RejectedError(f"{platform} is not connected in live mode")
        cached = self._cache.get((customer_id, platform))
        if cached is not None and cached[0] == bytes(config.credentials):
            return cached[1]
        auth_url = config.live.get("auth_url")
        if not self._settings.base_url_allowed(config.live["base_url"]) or (
            auth_url and not self._settings.base_url_allowed(auth_url)
        ):
            raise RejectedError("the connection's base URL or auth URL is no longer on the allow-list")
        factory = get_platform(platform).live_client
        if factory is None:
            raise RejectedError(f"{platform} has no live connector")
        client = factory(self._http, config.live, decrypt(self._settings, bytes(config.credentials)))
        self._cache[(customer_id, platform)] = (bytes(config.credentials), client)
        return client


async def live_batches(client: LiveClient, entity_type: str, *, skip: int,
                       size: int) -> AsyncIterator[list[dict[str, Any]]]:
    """A live platform's records of one type in batches, after the first `skip` (already committed
    by an earlier attempt: platforms list in a stable order, so a retry resumes where it stopped)."""
    batch: list[dict[str, Any]] = []
    seen = 0
    async for record in client.records(entity_type):
        seen += 1
        if seen <= skip:
            continue
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
