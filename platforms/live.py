"""Live mode: connectors built from a connection's stored settings, and the concurrency-checked write.

One `httpx.AsyncClient` per worker process (connection pooling); a connector per connection,
cached with its OAuth token until the connection's settings change.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from platforms.dynamics.client import DynamicsClient
from platforms.http import DEFAULT_TIMEOUT, RejectedError, StaleError
from platforms.procore.client import ProcoreClient
from settings import Settings
from store.connections import live_config
from store.credentials import decrypt


class LiveClient(Protocol):
    def records(self, entity_type: str) -> AsyncIterator[dict[str, Any]]: ...


class Connectors:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._http = http or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self._cache: dict[tuple[uuid.UUID, str], tuple[bytes, ProcoreClient | DynamicsClient]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def client(
        self, session: AsyncSession, customer_id: uuid.UUID, platform: str
    ) -> ProcoreClient | DynamicsClient:
        config = await live_config(session, customer_id, platform)
        if config is None or config.mode != "live" or config.credentials is None or not config.live:
            raise RejectedError(f"{platform} is not connected in live mode")
        cached = self._cache.get((customer_id, platform))
        if cached is not None and cached[0] == bytes(config.credentials):
            return cached[1]
        if not self._settings.base_url_allowed(config.live["base_url"]):
            raise RejectedError("the connection's base URL is no longer on the allow-list")
        secrets = decrypt(self._settings, bytes(config.credentials))
        live: Mapping[str, Any] = config.live
        client: ProcoreClient | DynamicsClient
        if platform == "procore":
            client = ProcoreClient(
                self._http,
                base_url=live["base_url"],
                client_id=secrets["client_id"],
                client_secret=secrets["client_secret"],
                company_id=live["company_id"],
            )
        else:
            client = DynamicsClient(
                self._http,
                base_url=live["base_url"],
                tenant=live["tenant"],
                environment=live["environment"],
                company_id=live["company_id"],
                client_id=secrets["client_id"],
                client_secret=secrets["client_secret"],
            )
        self._cache[(customer_id, platform)] = (bytes(config.credentials), client)
        return client


def _holds(remote: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    return all(remote.get(key) == value for key, value in changes.items())


async def write_with_concurrency_check(
    client: ProcoreClient | DynamicsClient,
    platform: str,
    entity_type: str,
    stored: Mapping[str, Any],
    changes: dict[str, Any],
    *,
    overwrite: bool = False,
) -> tuple[dict[str, Any], str]:
    """Write `changes` to the record last seen as `stored`.

    Returns (the remote record afterwards, status): "written"; "recovered" when the record changed
    since we read it and holds exactly our values (an earlier attempt applied them and lost the
    response: an effective write of ours); "already" when there was nothing to change; "conflict"
    when somebody else changed it (then the remote record, untouched)."""
    if isinstance(client, DynamicsClient):
        record_id = str(stored["id"])
        if not changes:
            return dict(stored), "already"
        etag = "*" if overwrite else str(stored.get("@odata.etag") or "*")
        try:
            return await client.patch(entity_type, record_id, changes, etag), "written"
        except StaleError:
            remote = await client.get(entity_type, record_id)
            return remote, ("recovered" if _holds(remote, changes) else "conflict")
    # Procore has no ETags: read, compare updated_at with what we saw, then write (last writer wins).
    remote = await client.get(entity_type, dict(stored))
    if _holds(remote, changes):
        return remote, ("already" if remote.get("updated_at") == stored.get("updated_at") else "recovered")
    if not overwrite and remote.get("updated_at") != stored.get("updated_at"):
        return remote, "conflict"
    return await client.patch(entity_type, dict(stored), changes), "written"


async def live_batches(client: ProcoreClient | DynamicsClient, entity_type: str, *, skip: int,
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
