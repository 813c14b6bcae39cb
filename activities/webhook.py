"""Webhook follow-up: fetch the changed record from the platform and turn it into a platform-mode change."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.create import register_new
from activities.failures import as_activity_failures
from activities.heartbeat import keep_alive
from canonical.timefmt import parse_stamp, seconds_before
from models.webhook import (
    CatchUpInput,
    ChangedRecords,
    DeltaChange,
    DeltaChanges,
    DeltaInput,
    FetchChangeResult,
    SweepResult,
    SweptChange,
    WebhookEvent,
)
from platforms.descriptor import ChangeJournal, JournalEntry, LiveClient, Platform, WebhookShapeError
from platforms.http import PlatformError, RejectedError, RetryableError
from platforms.live import Connectors
from platforms.registry import get_platform
from propagation.logic import NativeChange, PatchError, native_fields, propagate_input
from propagation.rules import flows
from store import deletes as dq
from store import propagate as q
from store.connections import connection_rules, merge_sync_state, save_sync_watermark, sync_state, sync_watermark
from store.propagate import record_ignored
from store.webhooks import stored_records

# Records read between heartbeats of a catch-up listing.
HEARTBEAT_EVERY = 200
# A delta pass reads from this long before its watermark: platform clocks and commit order skew, and
# a change read twice is recognised (its version), a change missed is not.
DELTA_OVERLAP = timedelta(seconds=60)


class UnusableJournal(Exception):
    """The platform's journal answered in a shape we cannot read: the type's lists are read instead."""


def _journal_subscription(state: dict[str, Any], required: tuple[str, ...]) -> str | None:
    """The id of the subscription whose journal holds a type's changes (Procore: ``<hook>/<trigger>``),
    when every one it needs is active; None when one is missing or refused (its lists are read)."""
    active = {
        str(s.get("resource")): str(s["id"])
        for s in state.get("subscriptions") or ()
        if isinstance(s, dict) and s.get("status") == "active" and s.get("id")
    }
    if not required or any(resource not in active for resource in required):
        return None
    return active[required[0]]


def _changed_version(platform: Platform, record: dict[str, Any], mine: dict[str, Any]) -> str | None:
    """The version of ``record`` when it differs from our stored copy in a writable field, else None."""
    if any(platform.writable(k) and mine.get(k) != v for k, v in record.items()):
        return platform.etag(record) or platform.updated_at(record) or ""
    return None


def _cursor(value: int) -> str:
    # Zero-padded: watermarks only move forward, compared as text.
    return f"{value:020d}"


def _settled_cursor(entries: list[JournalEntry], after: int) -> int:
    """Where the next journal read starts: past every entry the platform first tried more than
    DELTA_OVERLAP before its newest one. A delivery held back (a queue, a retry) is logged after
    later events, with an earlier cursor: the overlap reads it again rather than skip it (a change
    read twice is followed once)."""
    started = [(moment, e.cursor) for e in entries if (moment := parse_stamp(e.started_at)) is not None]
    if not started:  # no times to hold back by: past all that was read
        return max([after, *(e.cursor for e in entries)])
    horizon = max(moment for moment, _ in started) - DELTA_OVERLAP
    return max([after, *(cursor for moment, cursor in started if moment <= horizon)])


def _stamp_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class WebhookActivities:
    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        connectors: Connectors | None,
        *,
        sweep_every: timedelta = timedelta(hours=1),
    ) -> None:
        self._engine = engine
        self._sessionmaker = sessionmaker
        self._connectors = connectors
        self._sweep_every = sweep_every

    @activity.defn
    async def fetch_change(self, event: WebhookEvent) -> FetchChangeResult:
        """What changed on the platform record, as a platform-mode propagation (None when nothing did)."""
        if self._connectors is None:
            raise ApplicationError("live connectors are not configured", type="NotConfigured", non_retryable=True)
        customer = uuid.UUID(event.customer_id)
        async with self._sessionmaker() as session:
            record = await q.resolve_platform_record(
                session, customer, event.platform, event.platform_id, event.entity_type
            )
            if record is None:
                return FetchChangeResult(
                    reason="a record this connection does not know yet: a delta pass registers it", unmapped=True
                )
            if await dq.is_deleted(session, customer, record.canonical_id):
                return FetchChangeResult(reason="its canonical object is deleted: nothing follows it")
            entity = await q.load_canonical(session, customer, record.canonical_id)
            try:
                client = await self._connectors.client(session, customer, event.platform)
            except RejectedError as err:
                return FetchChangeResult(reason=err.message)
        stored: dict[str, Any] = record.native
        try:
            remote = await client.fetch(record.entity_type, stored)
        except RetryableError as err:
            raise ApplicationError(err.message, type="PlatformUnavailable") from err
        except RejectedError as err:
            if err.status == 404:  # deleted there (a delete event, or a change announced before it)
                if await self._downstream(customer, event.platform, record.entity_type):
                    return FetchChangeResult(
                        reason=f"ignored: deleted on {event.platform}, which {record.entity_type} syncs one way to"
                    )
                return FetchChangeResult(reason="gone from the platform: deleted", gone=record.canonical_id)
            return FetchChangeResult(reason=f"could not read the record: {err.message}")
        writable = get_platform(event.platform).writable
        # A record's show may carry keys its list (what the connect stored) does not, such as a Procore
        # project's `is_erp_integrated`: only keys we store or map are a change.
        known = native_fields(event.platform, record.entity_type)
        native_patch = {
            k: v for k, v in remote.items() if writable(k) and (k in stored or k in known) and stored.get(k) != v
        }
        if not native_patch or entity is None:
            return FetchChangeResult(reason="no change")
        propagation_id = (
            "prop_"
            + hashlib.sha256(f"{event.customer_id}|webhook|{event.platform}|{event.delivery_key}".encode()).hexdigest()[
                :24
            ]
        )
        try:
            propagate = propagate_input(
                propagation_id=propagation_id,
                customer_id=event.customer_id,
                canonical_id=record.canonical_id,
                entity_type=record.entity_type,
                current=entity.data,
                change=NativeChange(event.platform, event.platform_id, stored, native_patch),
                request={"webhook": event.model_dump(), "hash": None},
            )
        except PatchError as err:
            return FetchChangeResult(reason=f"change cannot be applied: {err}")
        propagate.source_version = get_platform(event.platform).version_fields(remote)
        async with self._sessionmaker() as session:
            connections = await connection_rules(session, customer)
            targets = [p for p in connections if p != event.platform]
            blocked = [t for t in targets if not flows(connections.values(), record.entity_type, event.platform, t)]
            if blocked:
                # One-way sync: changes made here do not flow (recorded, canonical untouched).
                reason = (
                    f"ignored: {record.entity_type} syncs one way, to {event.platform} "
                    f"(direction of {', '.join(blocked)}); changed here: {', '.join(sorted(native_patch))}"
                )
                await record_ignored(session, customer, propagate, reason)
                await session.commit()
                return FetchChangeResult(reason=reason)
        async with self._sessionmaker() as session:
            # "changes applied" of GET /connections: platform changes handed to the canonical layer.
            await merge_sync_state(session, customer, event.platform, {"last_change_at": _stamp_now()}, count=1)
            await session.commit()
        return FetchChangeResult(reason="changed", propagate=propagate)

    @activity.defn
    async def find_changed(self, params: CatchUpInput) -> ChangedRecords:
        """The mapped records of a type whose platform copy differs from the stored one (their
        writable fields), read from the platform in full: what a collection notification left out."""
        found = await self._changed(params.customer_id, params.platform, params.entity_type, since=None)
        return ChangedRecords(
            platform_ids=[c.platform_id for c in found.changes],
            read=found.read,
            unmapped=found.unmapped,
            created=found.created,
        )

    @activity.defn
    async def delta_changes(self, params: DeltaInput) -> DeltaChanges:
        """The mapped records of a type changed on the platform since the connection's watermark
        (less an overlap), that differ from the stored copy: our own writes, stored as written, and
        changes already followed are not changes. Read cost follows the changes, not the data.

        A type whose lists cannot be asked what changed (``Platform.journal_types``) is read from
        the platform's journal of the notifications it made for our subscription, from the
        journal's own cursor, when there is one: the first pass after a subscription is made reads
        the type's lists, as a pass without a subscription does."""
        customer = uuid.UUID(params.customer_id)
        platform = get_platform(params.platform)
        journal: tuple[str, str, str | None] | None = None  # (subscription, watermark key, cursor)
        async with self._sessionmaker() as session:
            watermark = await sync_watermark(session, customer, params.platform, params.entity_type)
            if watermark and params.entity_type in platform.journal_types:
                subscription = _journal_subscription(
                    await sync_state(session, customer, params.platform), platform.journal_types[params.entity_type]
                )
                if subscription is not None:
                    key = f"{params.entity_type}@journal:{subscription.split('/', 1)[0]}"
                    journal = (subscription, key, await sync_watermark(session, customer, params.platform, key))
        if journal is not None and (cursor := journal[2]) is not None:
            subscription, key, _ = journal
            try:
                return await self._journal_changed(
                    customer, params.platform, params.entity_type, subscription, key, cursor
                )
            except UnusableJournal as err:
                activity.logger.warning("%s: reading the lists instead", err)
        since = seconds_before(watermark, DELTA_OVERLAP) if watermark else None
        found = await self._changed(params.customer_id, params.platform, params.entity_type, since=since)
        newest = max(filter(None, (watermark, found.watermark)), default=None)
        update: dict[str, Any] = {"watermark": newest}
        if journal is not None:  # the journal's cursor starts at the subscription's first notification
            update |= {"journal_key": journal[1], "journal_cursor": _cursor(0)}
        return found.model_copy(update=update)

    async def _journal_changed(
        self, customer: uuid.UUID, platform_name: str, entity_type: str, subscription: str, key: str, after: str
    ) -> DeltaChanges:
        """The changes of a type the platform's journal shows after cursor ``after`` and no
        notification brought us: a delivery that failed, or that the platform gave up. Each is
        handed on as a webhook would be (the record read fresh and compared); a record never seen
        is looked for where its event says and registered as new."""
        platform = get_platform(platform_name)
        client = await self._client(customer, platform_name)
        if not isinstance(client, ChangeJournal):
            raise ApplicationError(f"{platform_name} keeps no change journal", type="NotConfigured", non_retryable=True)
        entries: list[JournalEntry] = []
        with as_activity_failures():
            try:
                async with keep_alive():
                    async for entry in client.journal(subscription, int(after)):
                        entries.append(entry)
                        if len(entries) % HEARTBEAT_EVERY == 0:
                            activity.heartbeat(len(entries))
            except (RetryableError, RejectedError):
                raise
            except PlatformError as err:  # an answer we cannot read as a journal
                raise UnusableJournal(f"{platform_name} change journal of {subscription}: {err}") from err
        announced: dict[str, tuple[str, JournalEntry]] = {}  # platform id -> (delivery key, latest entry)
        for entry in entries:
            try:
                delivery = platform.webhooks.parse(entry.event, None)
            except WebhookShapeError:
                continue  # not an event of ours to follow
            for event in delivery.events:
                if event.entity_type == entity_type and event.platform_id:
                    announced[event.platform_id] = (event.delivery_key, entry)
        async with self._sessionmaker() as session:
            stored = await stored_records(session, customer, platform_name, entity_type, list(announced))
        # Each is handed on under the key our receiver used for its notification: one the receiver
        # followed (running or done) is not followed again, one that never started or failed is.
        # A record we do not know is looked for whether or not its notification came (a webhook
        # about a new record leaves it to a pass).
        changes = [
            DeltaChange(platform_id=pid, version=f"journal {delivery_key}", delivery_key=delivery_key)
            for pid, (delivery_key, _) in announced.items()
            if pid in stored
        ]
        unknown = {
            pid: entry
            for pid, (_, entry) in announced.items()
            if pid not in stored and (entry.event.get("event_type") or entry.event.get("reason")) != "delete"
        }
        new: list[dict[str, Any]] = []
        looked: set[str] = set()
        with as_activity_failures():
            for entry in unknown.values():
                scope = str(entry.event.get("project_id"))
                if scope in looked:
                    continue
                looked.add(scope)
                activity.heartbeat(len(entries))
                new += [r for r in await client.records_near(entity_type, entry.event) if str(r.get("id")) in unknown]
        registered = await register_new(self._engine, customer, platform_name, entity_type, new)
        return DeltaChanges(
            changes=changes,
            read=len(entries),
            unmapped=len(new),
            watermark=None,  # the type's time watermark stays where its last list read left it
            created=registered.pending,
            unmappable=registered.unmappable,
            journal_key=key,
            journal_cursor=_cursor(_settled_cursor(entries, int(after))),
        )

    async def _changed(self, customer_id: str, platform_name: str, entity_type: str, *, since: str | None) -> DeltaChanges:
        """The platform's records of a type (changed after ``since``; None: all) that differ from the
        stored copies in a writable field, with their versions and the newest last-modified stamp."""
        customer = uuid.UUID(customer_id)
        platform = get_platform(platform_name)
        client = await self._client(customer, platform_name)
        # A full read compares with every stored record; a delta read gathers what changed first and
        # then loads only those records' stored copies: its cost follows the changes, not the data.
        stored: dict[str, dict[str, Any]] | None = None
        if since is None:
            async with self._sessionmaker() as session:
                stored = await stored_records(session, customer, platform_name, entity_type)
        read_records: list[dict[str, Any]] = []
        changes: list[DeltaChange] = []
        new: list[dict[str, Any]] = []
        read = 0
        newest: str | None = None

        def compare(record: dict[str, Any], mine: dict[str, Any] | None) -> None:
            if mine is None:
                new.append(record)  # created since the connect
            elif (version := _changed_version(platform, record, mine)) is not None:
                changes.append(DeltaChange(platform_id=str(record.get("id")), version=version))

        with as_activity_failures():
            async with keep_alive():
                async for record in client.changed_since(entity_type, since):
                    read += 1
                    if read % HEARTBEAT_EVERY == 0:
                        activity.heartbeat(read)
                    stamp = platform.updated_at(record)
                    if stamp and (newest is None or stamp > newest):
                        newest = stamp
                    if stored is None:
                        read_records.append(record)
                    else:
                        compare(record, stored.get(str(record.get("id"))))
        if stored is None:
            async with self._sessionmaker() as session:
                mine = await stored_records(
                    session, customer, platform_name, entity_type, [str(r.get("id")) for r in read_records]
                )
            for record in read_records:
                compare(record, mine.get(str(record.get("id"))))
        # Registered (as canonical objects, or linked to the same record on another platform) before
        # the watermark moves past them; their creates on the other platforms start from the
        # pending rows, which also hold what a crashed pass registered.
        registered = await register_new(self._engine, customer, platform_name, entity_type, new)
        return DeltaChanges(
            changes=changes,
            read=read,
            unmapped=len(new),
            watermark=newest,
            created=registered.pending,
            unmappable=registered.unmappable,
        )

    async def _client(self, customer: uuid.UUID, platform_name: str) -> LiveClient:
        """The connection's connector; a connection that cannot have one is not retried."""
        if self._connectors is None:
            raise ApplicationError("live connectors are not configured", type="NotConfigured", non_retryable=True)
        async with self._sessionmaker() as session:
            try:
                return await self._connectors.client(session, customer, platform_name)
            except RejectedError as err:
                raise ApplicationError(err.message, type="NotConfigured", non_retryable=True) from err

    async def _downstream(self, customer: uuid.UUID, platform: str, entity_type: str) -> bool:
        """Whether ``platform`` only receives ``entity_type`` (a one-way direction): its changes,
        deletions included, do not flow."""
        async with self._sessionmaker() as session:
            connections = await connection_rules(session, customer)
        return any(not flows(connections.values(), entity_type, platform, t) for t in connections if t != platform)

    @activity.defn
    async def sweep_deleted(self, params: DeltaInput) -> SweepResult:
        """The mapped records no longer on the platform, each confirmed gone by a read (404), when a
        sweep is due (``params.sweep``, or none for ``sweep_every``). Neither platform's change feed
        names deletes (Business Central has no delete filter; Procore lists what remains), so this
        reads every record's id: its cost follows the data, hence its own, longer cadence."""
        if self._connectors is None:
            raise ApplicationError("live connectors are not configured", type="NotConfigured", non_retryable=True)
        customer = uuid.UUID(params.customer_id)
        async with self._sessionmaker() as session:
            last = await dq.last_sweep(session, customer, params.platform)
            due = params.sweep or last is None or datetime.now(UTC) - last >= self._sweep_every
            if not due:
                return SweepResult(swept=False)
        client = await self._client(customer, params.platform)
        started = _stamp_now()
        gone: list[tuple[str, str]] = []
        changed: list[SweptChange] = []
        new: list[dict[str, Any]] = []  # journal types: records created with no notification we got
        created: list[str] = []
        read = 0
        platform = get_platform(params.platform)
        with as_activity_failures():
            async with keep_alive():
                for entity_type in platform.synced_entity_types:
                    if await self._downstream(customer, params.platform, entity_type):
                        continue  # its deletions do not flow either
                    async with self._engine.connect() as conn:
                        expected = await dq.mapped_ids(conn, customer, params.platform, entity_type)
                    if not expected:
                        continue
                    # A journal type's delta reads only what the platform logged: the full read
                    # here also compares and registers, for a change or create lost inside the platform.
                    stored: dict[str, dict[str, Any]] | None = None
                    if entity_type in platform.journal_types:
                        async with self._sessionmaker() as session:
                            stored = await stored_records(session, customer, params.platform, entity_type)
                    seen: set[str] = set()
                    async for record in client.records(entity_type):
                        platform_id = str(record.get("id"))
                        seen.add(platform_id)
                        read += 1
                        if read % HEARTBEAT_EVERY == 0:
                            activity.heartbeat(read)
                        if stored is None:
                            continue
                        mine = stored.get(platform_id)
                        if mine is None:
                            new.append(record)
                        elif (version := _changed_version(platform, record, mine)) is not None:
                            changed.append(SweptChange(entity_type=entity_type, platform_id=platform_id, version=version))
                    if new:
                        registered = await register_new(self._engine, customer, params.platform, entity_type, new)
                        created += registered.pending
                        new = []
                    missing = sorted(set(expected) - seen)
                    if not missing:
                        continue
                    if stored is None:
                        async with self._sessionmaker() as session:
                            stored = await stored_records(session, customer, params.platform, entity_type)
                    for platform_id in missing:
                        activity.heartbeat(read)  # one read each: a bulk delete must not look like a dead worker
                        try:
                            await client.fetch(entity_type, stored.get(platform_id) or {"id": platform_id})
                        except RejectedError as err:
                            if err.status == 404:
                                gone.append((expected[platform_id], platform_id))
        # "last_sweep_at" is recorded with the pass (record_delta_pass), once what was found here is
        # handed on: a retry of this activity after a crash sweeps again instead of finding it not due.
        return SweepResult(swept=True, read=read, gone=gone, changed=changed, created=created, swept_at=started)

    @activity.defn
    async def save_watermark(self, params: DeltaInput, watermark: str) -> None:
        """After the pass's changes are handed on: the next pass reads from here."""
        async with self._sessionmaker() as session:
            await save_sync_watermark(session, uuid.UUID(params.customer_id), params.platform, params.entity_type, watermark)
            await session.commit()
