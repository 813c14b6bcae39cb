"""Activities of ConnectWorkflow: generations, streaming seed, reconciliation, activation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from canonical.jsonio import dumps_text
from models.connect import (
    ActivateInput,
    ActivateResult,
    BeginConnectInput,
    BeginConnectResult,
    FailConnectInput,
    FailConnectResult,
    ReconcileInput,
    ReconcileResult,
    SeedInput,
    SeedResult,
)
from platforms import get_mapper
from platforms.base import IdMap, MappingContext
from platforms.sources import sandbox_records, validate_dataset
from reconcile.keys import business_keys
from reconcile.matching import match
from store import connect as q

BATCH_SIZE = 5000
# Entity types whose canonical form references earlier types (resolved while seeding).
REFERENCED_TYPES = {
    "project": (),
    "customer": (),
    "contract": ("project", "customer"),
    "invoice": ("project", "customer", "contract"),
    "payment": ("project", "customer", "contract", "invoice"),
}
# Matched by more than one kind of key (tax id, then name): the in-memory matcher applies the
# full rule set. Every other type has exactly one key, so a SQL join is the same rule and faster.
MULTI_KEY_TYPES = {"customer"}


def _batches(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while batch := list(islice(records, size)):
        yield batch


def _dumps(value: Any) -> str:
    # Exact decimals as JSON numbers (BC amounts), never strings or floats.
    return dumps_text(value)


class ConnectActivities:
    def __init__(self, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._engine = engine
        self._sessionmaker = sessionmaker

    @activity.defn
    async def begin_connect(self, params: BeginConnectInput) -> BeginConnectResult:
        async with self._sessionmaker() as session:
            generation = await q.begin_seeding(session, uuid.UUID(params.customer_id), params.platform, params.mode)
            await session.commit()
        return BeginConnectResult(generation=generation)

    @activity.defn
    async def seed_entities(self, params: SeedInput) -> SeedResult:
        """Stream one entity type of the platform into `platform_objects` (generation `params.generation`).

        Commits per batch and resumes after the rows an earlier attempt committed: the source is
        deterministic, so the first N records are exactly the N rows already there.
        """
        customer = uuid.UUID(params.customer_id)
        platform, entity_type, generation = params.platform, params.entity_type, params.generation
        try:
            validate_dataset(params.dataset)
        except ValueError as err:
            # Retrying cannot fix a bad request; fail the connect at once.
            raise ApplicationError(str(err), type="InvalidDataset", non_retryable=True) from err
        async with self._sessionmaker() as session:
            await q.refresh_statistics(session)
            already = await q.seeded_count(session, customer, platform, entity_type, generation)
            refs = await q.reference_rows(session, customer, platform, generation, REFERENCED_TYPES[entity_type])
        # References resolve to the canonical objects the referenced records were linked to, which
        # may have been created by the other platform (so their ids are not this platform's).
        id_map = IdMap()
        for ref_type, native_id, cid, number in refs:
            id_map.add(platform, ref_type, cid, native_id, number=number)
        context = MappingContext(id_map=id_map)
        mapper = get_mapper(platform)
        records = islice(sandbox_records(platform, entity_type, params.dataset), already, None)
        done = already
        for batch in _batches(records, BATCH_SIZE):
            rows = []
            for native in batch:
                canonical = mapper.to_canonical(entity_type, native, customer_id=params.customer_id, context=context)
                data = canonical.model_dump(mode="json", exclude={"external_ids"})
                keys = business_keys(platform, entity_type, native)
                rows.append(
                    (
                        customer,
                        platform,
                        entity_type,
                        str(native["id"]),
                        generation,
                        _dumps(native),
                        _dumps(data),
                        keys[0] if keys else None,
                        keys,
                        native.get("@odata.etag"),
                        native.get("updated_at") or native.get("lastModifiedDateTime"),
                    )
                )
            async with self._engine.begin() as conn:
                await q.copy_platform_objects(conn, rows)
            done += len(rows)
            activity.heartbeat({"seeded": done})
        return SeedResult(count=done)

    @activity.defn
    async def reconcile_entities(self, params: ReconcileInput) -> ReconcileResult:
        """Link this generation's records to the other platform's, then create the rest. One transaction."""
        customer = uuid.UUID(params.customer_id)
        args = (customer, params.platform, params.entity_type, params.generation)
        async with self._sessionmaker() as session:
            await q.refresh_statistics(session)
            if params.entity_type in MULTI_KEY_TYPES:
                mine, theirs, their_canonical, own_ids = await q.keyed_records(session, *args)
                pairs = match(mine, theirs)
                links = [(m, their_canonical[t]) for m, t in pairs]
                linked = await q.insert_links(session, *args, links, own_ids)
            else:
                linked = await q.link_by_single_key(session, *args)
            created = await q.create_unlinked(session, *args)
            await session.commit()
        return ReconcileResult(linked=linked, created=created)

    @activity.defn
    async def activate_connection(self, params: ActivateInput) -> ActivateResult:
        async with self._sessionmaker() as session:
            await q.refresh_statistics(session)
            deleted = await q.activate(
                session, uuid.UUID(params.customer_id), params.platform, params.generation, params.counts
            )
            await session.commit()
        return ActivateResult(canonical_deleted=deleted)

    @activity.defn
    async def fail_connection(self, params: FailConnectInput) -> FailConnectResult:
        async with self._sessionmaker() as session:
            await q.mark_error(session, uuid.UUID(params.customer_id), params.platform, params.error)
            await session.commit()
        return FailConnectResult()
