"""Activities of ConnectWorkflow: generations, streaming seed, reconciliation, activation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from itertools import islice
from typing import Any, TypeVar

from psycopg import AsyncCopy
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from canonical.encoding import canonical_json
from canonical.entities import NUMBERED_TYPE
from canonical.entities import entity_type as entity_type_row
from canonical.errors import TransformError
from canonical.jsonio import dumps
from canonical.timefmt import seconds_before
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
from platforms.http import RejectedError, RetryableError
from platforms.live import Connectors, live_batches
from platforms.mapping import IdMap, MappingContext, NumberRef, Ref, TableMapper
from platforms.registry import get_platform
from platforms.sources import sandbox_records, validate_dataset
from reconcile.keys import key_function
from reconcile.matching import match
from store import connect as q
from store import events as events_q
from store.connections import save_sync_watermark

# Rows per COPY transaction: a killed worker loses at most one batch, and a retry resumes after
# the last committed one.
BATCH_SIZE = 5000
# Records mapped per step of the seed pipeline, and how many encoded chunks may wait for the
# COPY: together they bound the memory a seed holds (a few MB), whatever the data set's size.
CHUNK_SIZE = 1000
QUEUE_CHUNKS = 4


_T = TypeVar("_T")


async def _put(queue: asyncio.Queue[Any], item: Any, consumer: asyncio.Task[None]) -> None:
    """Put `item`, or raise the consumer's error if it failed meanwhile (it would never take it)."""
    putting = asyncio.ensure_future(queue.put(item))
    await asyncio.wait({putting, consumer}, return_when=asyncio.FIRST_COMPLETED)
    if not putting.done():
        putting.cancel()
        consumer.result()  # raises
        raise RuntimeError("the COPY writer stopped early")


# --- COPY text -------------------------------------------------------------------------
#
# The seed writes PostgreSQL's COPY text format itself: one bytes object per chunk, streamed with
# a single write. psycopg's per-value adaptation (`write_row`) cost a third of mapping a record.
# orjson escapes every control character inside JSON strings, so in JSON a backslash is the only
# byte COPY would interpret.

_NULL = b"\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _escaped(text: str) -> bytes:
    """``text`` escaped for COPY. ``str.translate`` with a dict looks up every character in
    Python (microseconds a field); ids, keys and stamps almost never need it, so check first."""
    if "\\" in text or not text.isprintable():  # tab, newline and CR are not printable
        text = text.translate(_COPY_ESCAPES)
    return text.encode()


def _copy_text(value: Any) -> bytes:
    """One text field of a COPY row (None is NULL)."""
    if value is None:
        return _NULL
    return _escaped(value if type(value) is str else str(value))


def _copy_text_array(items: Sequence[str]) -> bytes:
    """A text[] field: every element quoted (normalised keys rarely need escaping inside)."""
    joined = '","'.join(items)
    if '"' in joined or "\\" in joined:
        joined = '","'.join(item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return _escaped('{"' + joined + '"}' if items else "{}")


class References:
    """Resolves the references a seed batch carries to canonical ids, one batch at a time.

    A reference resolves to the canonical object the referenced record was linked to, which may
    have been created by the other platform. Records this platform created keep the id the
    mapper derives anyway, so only types with links (mappings with `origin` false) are looked up:
    per batch, the ids it carries that a bounded cache does not hold (one unique-index lookup
    each). The worker never holds a whole platform's ids.

    Needs the mapper's reference fields (a `TableMapper`); for any other mapper every reference of
    the referenced types is loaded once (`complete`).
    """

    CACHE_SIZE = 50_000

    def __init__(self, customer: uuid.UUID, platform: str, entity_type: str, generation: int) -> None:
        self._args = (customer, platform, generation)
        self._platform = platform
        self._referenced = entity_type_row(entity_type).referenced_types
        # The native field this platform keeps the business number of number-referenced records in.
        self._number_field = get_platform(platform).number_reference()
        mapper = get_mapper(platform)
        self.complete = not isinstance(mapper, TableMapper)
        codecs = mapper.specs[entity_type].codecs if isinstance(mapper, TableMapper) else ()
        self._by_id = [c for c in codecs if isinstance(c, Ref) and c.entity_type in self._referenced]
        self._by_number = [
            c
            for c in codecs
            if isinstance(c, NumberRef) and c.entity_type in self._referenced and c.entity_type == NUMBERED_TYPE
        ]
        self._linked: set[str] = set()
        self._all: list[tuple[str, str, str, str | None]] | None = None
        # Oldest first. (entity type, native id) -> canonical id, None when not mapped;
        # number -> [(native id, canonical id)].
        self._ids: dict[tuple[str, str], str | None] = {}
        self._numbers: dict[str, list[tuple[str, str]]] = {}

    async def prepare(self, conn: AsyncConnection) -> None:
        if not self._referenced:
            return
        if self.complete:
            self._all = await q.reference_rows(conn, *self._args, self._referenced, self._number_field)
        else:
            self._linked = set(await q.linked_types(conn, *self._args, self._referenced))
        await conn.rollback()

    def wanted(self, batch: Sequence[Mapping[str, Any]]) -> tuple[set[tuple[str, str]], set[str]]:
        """The (entity type, native id) pairs and the numbers of linked types the batch references.
        Pure (runs in the mapping thread)."""
        pairs: set[tuple[str, str]] = set()
        numbers: set[str] = set()
        add = pairs.add
        for codec in self._by_id:
            if codec.entity_type not in self._linked:
                continue
            key, entity_type, nested, blank = codec.key, codec.entity_type, codec.nested, codec.blank
            for native in batch:
                # Ref.native_of inlined for plain dicts, strings and integers (the JSON cases).
                raw = native.get(key)
                value = raw.get("id") if nested and type(raw) is dict else raw
                if nested and value is raw and raw is not None:
                    try:
                        value = codec.native_of(raw)
                    except TransformError:
                        continue  # mapping the record reports it
                if type(value) is str:
                    if value and value != blank:
                        add((entity_type, value))
                elif type(value) is int:
                    add((entity_type, str(value)))
                elif value is not None:
                    text = _id_text(value)
                    if text is not None and text != blank:
                        add((entity_type, text))
        for number_codec in self._by_number:
            if number_codec.entity_type not in self._linked:
                continue
            for native in batch:
                text = _id_text(native.get(number_codec.key) or None)
                if text is not None:
                    numbers.add(text)
        return pairs, numbers

    async def id_map(self, conn: AsyncConnection, wanted: tuple[set[tuple[str, str]], set[str]]) -> IdMap:
        """The links a chunk's references (`wanted`) resolve through: cached, else looked up."""
        platform = self._platform
        id_map = IdMap()
        if self._all is not None:
            for ref_type, native_id, cid, number in self._all:
                id_map.add(platform, ref_type, cid, native_id, number=number)
            return id_map
        pairs, numbers = wanted
        cached_ids, cached_numbers = self._ids, self._numbers
        ids = {p: cached_ids[p] for p in pairs if p in cached_ids}
        by_number = {n: cached_numbers[n] for n in numbers if n in cached_numbers}
        missing = [p for p in pairs if p not in ids]
        missing_numbers = sorted(n for n in numbers if n not in by_number)
        if missing or missing_numbers:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            new_ids: dict[tuple[str, str], str | None] = dict.fromkeys(missing)
            for entity_type, native_id, cid in await q.references_by_id(
                driver, *self._args, [t for t, _ in missing], [i for _, i in missing]
            ):
                new_ids[entity_type, native_id] = cid
            new_numbers: dict[str, list[tuple[str, str]]] = {n: [] for n in missing_numbers}
            for number, native_id, number_cid in await q.references_by_number(
                driver, *self._args, NUMBERED_TYPE, self._number_field[1] or "", missing_numbers
            ):
                new_numbers[number].append((native_id, number_cid))
            await driver.rollback()  # reads only; no transaction left open while the chunk is mapped
            ids.update(new_ids)
            by_number.update(new_numbers)
            _remember(cached_ids, new_ids, self.CACHE_SIZE)
            _remember(cached_numbers, new_numbers, self.CACHE_SIZE)
        add = id_map.add
        for (ref_type, ref_id), ref_cid in ids.items():
            if ref_cid is not None:
                add(platform, ref_type, ref_cid, ref_id)
        for number, records in by_number.items():
            for native_id, number_cid in records:
                add(platform, NUMBERED_TYPE, number_cid, native_id, number=number)
        return id_map


def _remember(cache: dict[Any, Any], new: dict[Any, Any], size: int) -> None:
    """Add `new` and evict the oldest entries beyond `size`. (The chunk being resolved holds what it
    needs in its own dict, so evicting is always safe.)"""
    cache.update(new)
    for key in list(islice(cache, max(0, len(cache) - size))):
        del cache[key]


def _id_text(value: Any) -> str | None:
    # platforms.mapping reads native ids and numbers as text the same way.
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


class RowEncoder:
    """Maps native records and encodes them as COPY text rows of `platform_objects`. Pure."""

    def __init__(self, customer: uuid.UUID, platform: str, entity_type: str, generation: int) -> None:
        self._customer_id = str(customer)
        self._platform = platform
        self._entity_type = entity_type
        self._mapper = get_mapper(platform)
        self._keys = key_function(platform, entity_type)
        # The keys the platform keeps a record's version in (read inline per record: the hot loop).
        descriptor = get_platform(platform)
        self._etag_key, self._updated_keys = descriptor.etag_key, descriptor.updated_at_keys
        self._head = b"\t".join((_copy_text(str(customer)), _copy_text(platform), _copy_text(entity_type), b""))
        self._generation = b"\t" + str(generation).encode() + b"\t"

    def encode(self, batch: Sequence[dict[str, Any]], context: MappingContext) -> bytes:
        """COPY text of the batch, columns as in `store.connect.PLATFORM_OBJECT_COPY_COLUMNS`."""
        to_canonical = self._mapper.to_canonical
        entity_type, customer_id = self._entity_type, self._customer_id
        head, generation = self._head, self._generation
        null, keys_of = _NULL, self._keys
        etag_key, updated_keys = self._etag_key, self._updated_keys
        parts: list[bytes] = []
        append = parts.append
        for native in batch:
            canonical = to_canonical(entity_type, native, customer_id=customer_id, context=context)
            keys = keys_of(native)
            etag = native.get(etag_key) if etag_key is not None else None
            updated = None
            for key in updated_keys:
                if updated := native.get(key):
                    break
            append(
                b"%s%s%s%s\t%s\t%s\t%s\t%s\t%s\n"
                % (
                    head,
                    _escaped(str(native["id"])),
                    generation,
                    dumps(native).replace(b"\\", b"\\\\"),  # exact decimals as JSON numbers (BC amounts)
                    canonical_json(canonical, external_ids=False).replace(b"\\", b"\\\\"),
                    _escaped(keys[0]) if keys else null,
                    _copy_text_array(keys),
                    null if etag is None else _escaped(etag if type(etag) is str else str(etag)),
                    null if updated is None else _escaped(updated if type(updated) is str else str(updated)),
                )
            )
        return b"".join(parts)


async def _next_live_page(pages: AsyncIterator[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The next page, with platform failures as Temporal retries (Retry-After honoured) or a
    non-retryable failure for a refusal (bad credentials, missing permission)."""
    try:
        return await anext(pages, [])
    except RetryableError as err:
        delay = timedelta(seconds=err.retry_after) if err.retry_after else None
        raise ApplicationError(err.message, type="PlatformUnavailable", next_retry_delay=delay) from err
    except RejectedError as err:
        raise ApplicationError(err.message, type="PlatformRejected", non_retryable=True) from err


class ConnectActivities:
    def __init__(
        self, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], connectors: Connectors | None = None
    ) -> None:
        self._engine = engine
        self._sessionmaker = sessionmaker
        self._connectors = connectors
        self._mapping_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-mapping")

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
        deterministic, so the first N records are exactly the N rows already there. Chunks are
        mapped in a thread while earlier ones stream into PostgreSQL; batches commit in order.
        """
        customer = uuid.UUID(params.customer_id)
        platform, entity_type, generation = params.platform, params.entity_type, params.generation
        if entity_type not in get_platform(platform).synced_entity_types:
            return SeedResult(count=0)  # the platform has no such records
        try:
            validate_dataset(params.dataset)
        except ValueError as err:
            # Retrying cannot fix a bad request; fail the connect at once.
            raise ApplicationError(str(err), type="InvalidDataset", non_retryable=True) from err
        async with self._sessionmaker() as session:
            already = await q.seeded_count(session, customer, platform, entity_type, generation)
        references = References(customer, platform, entity_type, generation)
        encoder = RowEncoder(customer, platform, entity_type, generation)
        records = islice(sandbox_records(platform, entity_type, params.dataset), already, None)

        live_pages = await self._live_pages(params, customer, already) if params.mode == "live" else None

        def take_sandbox() -> tuple[list[dict[str, Any]], tuple[set[tuple[str, str]], set[str]]]:
            chunk = list(islice(records, CHUNK_SIZE))
            return chunk, references.wanted(chunk)

        async def take() -> tuple[list[dict[str, Any]], tuple[set[tuple[str, str]], set[str]]]:
            if live_pages is None:
                return await self._in_thread(take_sandbox)
            chunk = await _next_live_page(live_pages)
            return chunk, references.wanted(chunk)

        # Three stages overlap: a chunk is mapped and encoded in the mapping thread while the next
        # one is fetched (live: its pages over HTTP; sandbox: generated, queued to the same thread)
        # and its references looked up, and the previous ones stream into PostgreSQL, each on its
        # own connection. The writer commits every BATCH_SIZE rows, in order, so the committed rows
        # are always a prefix of the source; at most QUEUE_CHUNKS encoded chunks wait.
        queue: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
        committed = [already]
        writer = asyncio.create_task(self._write_batches(customer, queue, committed))
        upcoming: asyncio.Task[tuple[list[dict[str, Any]], IdMap]] | None = None
        try:
            async with self._engine.connect() as lookups:
                await references.prepare(lookups)

                async def prepare_next() -> tuple[list[dict[str, Any]], IdMap]:
                    # One at a time (awaited before the next starts): `lookups` is not shared.
                    chunk, wanted = await take()
                    return chunk, (await references.id_map(lookups, wanted) if chunk else IdMap())

                try:
                    chunk, id_map = await prepare_next()
                    while chunk:
                        upcoming = asyncio.create_task(prepare_next())
                        # Let it start first: a sandbox chunk is generated in the mapping thread, so it
                        # is queued before this encode and its reference lookup overlaps the encode.
                        await asyncio.sleep(0)
                        data = await self._in_thread(encoder.encode, chunk, MappingContext(id_map=id_map))
                        await _put(queue, (data, len(chunk)), writer)
                        activity.heartbeat({"seeded": committed[0]})  # alive while a slow source fills a batch
                        data = b""
                        chunk, id_map = await upcoming
                        upcoming = None
                finally:
                    if upcoming is not None:  # failed meanwhile: stop using `lookups` before it closes
                        upcoming.cancel()
                        await asyncio.gather(upcoming, return_exceptions=True)
            await _put(queue, None, writer)
            await writer
            async with self._sessionmaker() as session:
                # Reconciliation and the next seed plan their statements knowing these rows exist.
                await q.refresh_statistics(session, {"platform_objects": committed[0] - already})
                await session.commit()
        finally:
            # On failure or cancellation the open batch rolls back: a retry resumes after the last commit.
            if not writer.done():
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        return SeedResult(count=committed[0])

    async def _live_pages(
        self, params: SeedInput, customer: uuid.UUID, already: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Live: page through the platform's API (resuming after the rows already committed)."""
        if self._connectors is None:
            raise ApplicationError("live connectors are not configured", type="NotConfigured", non_retryable=True)
        async with self._sessionmaker() as session:
            try:
                client = await self._connectors.client(session, customer, params.platform)
            except RejectedError as err:
                raise ApplicationError(err.message, type="NotConfigured", non_retryable=True) from err
        return live_batches(client, params.entity_type, skip=already, size=CHUNK_SIZE)

    async def _write_batches(
        self, customer: uuid.UUID, queue: asyncio.Queue[tuple[bytes, int] | None], committed: list[int]
    ) -> None:
        """COPY the encoded chunks from `queue` (None ends), committing every BATCH_SIZE rows."""
        finished = False
        while not finished:
            rows = 0
            async with self._engine.begin() as conn, self._copy(conn, customer) as copy:
                while rows < BATCH_SIZE:
                    item = await queue.get()
                    if item is None:
                        finished = True
                        break
                    data, count = item
                    await copy.write(data)
                    rows += count
            if rows:
                committed[0] += rows
                activity.heartbeat({"seeded": committed[0]})

    @asynccontextmanager
    async def _copy(self, conn: AsyncConnection, customer: uuid.UUID) -> AsyncIterator[AsyncCopy]:
        try:
            async with q.platform_objects_copy(conn, customer) as copy:
                yield copy
        except q.CustomerGone as err:
            # Deleted while connecting: nothing to retry for.
            raise ApplicationError(str(err), type="CustomerDeleted", non_retryable=True) from err

    async def _in_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run CPU-bound work in this activity object's mapping thread (the event loop keeps
        streaming COPY data and serving Temporal meanwhile). One thread: with the GIL more would
        not map faster, and one allocator arena keeps the worker's memory flat."""
        return await asyncio.get_running_loop().run_in_executor(self._mapping_thread, fn, *args)

    @activity.defn
    async def reconcile_entities(self, params: ReconcileInput) -> ReconcileResult:
        """Link this generation's records to the other platform's, then create the rest. One transaction."""
        customer = uuid.UUID(params.customer_id)
        if params.entity_type not in get_platform(params.platform).synced_entity_types:
            return ReconcileResult(linked=0, created=0)
        args = (customer, params.platform, params.entity_type, params.generation)
        async with self._sessionmaker() as session:
            await q.lock_canonical_links(session, customer)
            await q.plan_for_bulk(session)
            total: int | None
            # Matched by more than one kind of key (tax id, then name): the in-memory matcher applies
            # the full rule set. A type with one key kind is linked by a SQL join, the same rule and faster.
            if len(entity_type_row(params.entity_type).key_kinds) > 1:
                mine, theirs, their_canonical, own_ids = await q.keyed_records(session, *args)
                pairs = match(mine, theirs)
                links = [(m, their_canonical[t]) for m, t in pairs]
                linked = await q.insert_links(session, *args, links, own_ids)
                total = len(mine)
            else:
                linked, total = await q.link_by_single_key(session, *args)
            # When every record linked, there is nothing to create (and no anti-join to run).
            created = await q.create_unlinked(session, *args) if total is None or linked < total else 0
            await session.commit()
            # The next seed's reference lookups choose their index by these statistics.
            await q.refresh_statistics(session, {"entity_mappings": linked + created})
            await session.commit()
        return ReconcileResult(linked=linked, created=created)

    @activity.defn
    async def activate_connection(self, params: ActivateInput) -> ActivateResult:
        async with self._sessionmaker() as session:
            await q.lock_canonical_links(session, uuid.UUID(params.customer_id))
            await q.plan_for_bulk(session)
            deleted = await q.activate(
                session, uuid.UUID(params.customer_id), params.platform, params.generation, params.counts
            )
            if params.live_started_at:
                # The first delta pass reads what changed since shortly before the connect began (the
                # margin covers a platform clock behind ours), not everything the connect just read.
                since = seconds_before(params.live_started_at, WATERMARK_MARGIN)
                for entity_type in get_platform(params.platform).synced_entity_types:
                    await save_sync_watermark(
                        session, uuid.UUID(params.customer_id), params.platform, entity_type, since
                    )
            await events_q.emit(
                session,
                uuid.UUID(params.customer_id),
                "connect.completed",
                {"platform": params.platform, "generation": params.generation, "entities": params.counts},
                key=f"{params.platform}|{params.generation}",
            )
            await session.commit()
        return ActivateResult(canonical_deleted=deleted)

    @activity.defn
    async def fail_connection(self, params: FailConnectInput) -> FailConnectResult:
        async with self._sessionmaker() as session:
            await q.mark_error(session, uuid.UUID(params.customer_id), params.platform, params.error)
            await events_q.emit(
                session,
                uuid.UUID(params.customer_id),
                "connect.failed",
                {"platform": params.platform, "generation": params.generation, "error": params.error},
                key=f"{params.platform}|{params.generation}",
            )
            await session.commit()
        return FailConnectResult()


#: How far before a live connect's start its first delta pass reads (platform clocks may lag ours).
WATERMARK_MARGIN = timedelta(minutes=10)
