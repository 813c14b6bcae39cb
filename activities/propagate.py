"""Activities of PropagateWorkflow: canonical update, source mirror, per-platform fan-out, record.

Every activity is idempotent under retry and Reset: keyed on the propagation id (a business key
carried in the input), never on the run id. The database enforces "a propagation writes a platform
at most once" (platform_writes unique key) and "never regress" (applied_version).

Each activity is one transaction of a few statements on a Core connection (see store/propagate.py):
on a small machine the statements' round trips and driver work are CPU the whole stack shares.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from canonical.errors import TransformError
from canonical.jsonio import dumps_text
from events import payloads
from events.types import propagation_event
from models.propagate import (
    CanonicalUpdateResult,
    FanOutInput,
    FanOutResult,
    MirrorInput,
    MirrorResult,
    PropagateInput,
    RecordOutcomeInput,
    RecordOutcomeResult,
    Reference,
    TargetStatus,
)
from platforms.http import RejectedError, RetryableError
from platforms.live import Connectors
from platforms.mapping import MappingContext
from platforms.registry import get_platform
from propagation.logic import (
    apply_patch,
    build_id_map,
    reference_report,
    render_for_target,
    render_view,
    write_problems,
)
from propagation.rules import DEFAULT_RULE, Decision, decide, flows, native_keys, rule_for
from store import conflicts as cq
from store import events as events_q
from store import propagate as q
from store.connections import connection_rules


@dataclass(frozen=True)
class _Rendered:
    """The target record after a propagation (see ``PropagateActivities._render``)."""

    record: dict[str, Any]
    view: dict[str, Any]  # its canonical view
    context: MappingContext  # the references met
    fields: set[str]  # the canonical fields it brings the record up to date with
    changes: dict[str, Any]  # the native keys that differ from the stored record: what is sent
    note: str | None  # changed fields the platform computes, left out


@dataclass(frozen=True)
class _Outcome:
    """A fan-out's result and what to store with it (store.propagate.close_fan_out)."""

    result: FanOutResult
    write: tuple[int, str] | None = None  # platform_objects row id, the record as JSON text
    etag: str | None = None
    remote_updated_at: str | None = None
    logged_fields: list[str] | None = None  # set when the platform took an effective write


class PropagateActivities:
    def __init__(self, engine: AsyncEngine, connectors: Connectors | None = None) -> None:
        self._engine = engine
        self._connectors = connectors

    @activity.defn
    async def apply_canonical_update(self, params: PropagateInput) -> CanonicalUpdateResult:
        """Step 1, one transaction: lock the entity, apply the patch, bump the version, record it."""
        customer = uuid.UUID(params.customer_id)
        async with self._engine.begin() as conn:
            state = await q.begin_update(
                conn, params.propagation_id, customer, params.canonical_id, params.source_platform
            )
            if state.done_version is not None:
                version, updated, data = state.done_version, list(state.done_fields or []), state.done_after or {}
            else:
                if state.data is None or state.version is None:
                    raise ApplicationError("Entity mapping not found", type="NotFound", non_retryable=True)
                source = await self._read_source(conn, customer, params)
                stale = source is not None and get_platform(source[0]).older(params.source_version or {}, source[2])
                if not stale and source is not None:
                    stale = await self._echo(conn, customer, params, source, state.version)
                data, updated = (state.data, []) if stale else apply_patch(state.data, params.canonical_patch)
                version = state.version + 1 if updated else state.version
                if source is not None and not stale:
                    # The source record as read, in the same transaction: a later read of an older
                    # version finds this one, and the next write to it uses this ETag. It holds
                    # this canonical version, so an older fan-out to it is superseded.
                    _, row_id, stored, _ = source
                    merged = {**stored, **(params.native_patch or {}), **(params.source_version or {})}
                    if merged != stored or updated:
                        await q.write_platform_object(conn, row_id, merged, version)
                await q.save_update(
                    conn, params, customer, version=version, updated_fields=updated, canonical_after=data
                )
            unsettled: list[str] = []
            if params.overwrite and not updated:
                found = set(await q.unsettled_targets(conn, customer, params.canonical_id))
                unsettled = [t for t in state.targets if t in found]
        return CanonicalUpdateResult(
            version=version,
            updated_fields=updated,
            data=data,
            targets=state.targets,
            modes=dict(zip(state.targets, state.modes, strict=True)),
            target_ids=dict(zip(state.targets, state.ids, strict=True)),
            unsettled=unsettled,
        )

    @staticmethod
    async def _read_source(
        conn: AsyncConnection, customer: uuid.UUID, params: PropagateInput
    ) -> tuple[str, int, dict[str, Any], int] | None:
        """A change read from a platform: (platform, row id, stored record, the canonical version it
        holds), locked (after the canonical object, as everywhere). None for changes that name no version."""
        if not (params.source_platform and params.source_platform_id and params.source_version):
            return None
        row = await q.lock_source(conn, customer, params.source_platform, params.source_platform_id)
        if row is None:
            return None
        return params.source_platform, int(row.row_id), dict(row.data), int(row.applied_version or 0)

    @staticmethod
    async def _echo(
        conn: AsyncConnection,
        customer: uuid.UUID,
        params: PropagateInput,
        source: tuple[str, int, dict[str, Any], int],
        version: int,
    ) -> bool:
        """Whether a change read from a platform is our own write coming back (an echo), decided
        under the record's lock, by what we stored and wrote, never by timing:

        - the record now stored already holds it (our fan-out committed while the notification was
          on its way: it was read before that commit);
        - or the record is behind canonical (a fan-out to it is still outstanding, e.g. its answer
          was lost and it is being retried) and every changed field holds a value canonical had at
          one of the versions being written to it.

        Applying such a change would bring an older value back over a newer one."""
        _, _, stored, applied = source
        patch = params.native_patch or {}
        if patch and all(stored.get(k) == v for k, v in patch.items()):
            return True
        if applied >= version or not params.canonical_patch:
            return False
        written = await q.canonical_values_since(conn, customer, params.canonical_id, applied, version)
        return all(any(after.get(f) == v for after in written) for f, v in params.canonical_patch.items())

    @activity.defn
    async def mirror_source(self, params: MirrorInput) -> MirrorResult:
        """Step 2 (platform mode): the stored source record matches what the platform sent."""
        customer = uuid.UUID(params.customer_id)
        async with self._engine.begin() as conn:
            row = await q.lock_source(conn, customer, params.platform, params.platform_id)
            if row is None:
                raise ApplicationError("source record no longer mapped", type="NotFound", non_retryable=True)
            if params.source_version and get_platform(params.platform).older(params.source_version, row.data):
                return MirrorResult(applied=False)  # read from an older version than stored: stale
            merged = {**row.data, **params.native_patch, **(params.source_version or {})}
            if merged == row.data:
                return MirrorResult(applied=False)
            # The record holds this canonical version only if the change made it. A change canonical
            # did not take, read from a record a fan-out still owes versions (an echo of our own
            # write, its answer lost) is left to that fan-out: it stores the record and logs the
            # write when it recognises it, and the record is never marked past what it owes.
            changed = await q.changed_canonical(conn, params.propagation_id)
            if not changed and (row.applied_version or 0) < params.version:
                return MirrorResult(applied=False)
            await q.write_platform_object(conn, row.row_id, merged, params.version if changed else 0)
        return MirrorResult(applied=True)

    @activity.defn
    async def fan_out(self, params: FanOutInput) -> FanOutResult:
        """Step 3, one platform: write the canonical change into that platform's record."""
        customer = uuid.UUID(params.customer_id)
        async with self._engine.begin() as conn:
            state = await q.open_fan_out(
                conn,
                params.propagation_id,
                customer,
                params.canonical_id,
                params.platform,
                params.version,
                get_platform(params.platform).number_reference(),
            )
            # A simulated outage (sandbox) fails this attempt after its countdown is committed.
            result = None if state.outage else await self._fan_out(conn, customer, params, state)
        if result is None:
            raise ApplicationError(
                f"{params.platform} is unavailable (simulated sandbox outage)", type="PlatformUnavailable"
            )
        return result

    async def _fan_out(
        self, conn: AsyncConnection, customer: uuid.UUID, params: FanOutInput, state: q.FanOutState
    ) -> FanOutResult:
        if state.previous_status == "synced":
            # A replay or retry of a platform that already succeeded: report, never re-write.
            return FanOutResult(
                platform=params.platform,
                status="synced",
                platform_id=state.previous_platform_id,
                data=_text(state.previous_data),
            )
        if state.row_id is None or state.data is None or state.applied_version is None:
            raise ApplicationError(
                f"{params.entity_type} is not mapped on {params.platform}", type="NotMapped", non_retryable=True
            )
        if state.applied_version >= params.version:
            # A newer propagation already brought this record past our version (and included
            # our fields): writing ours now would regress it.
            outcome = _Outcome(
                FanOutResult(
                    platform=params.platform,
                    status="synced",
                    platform_id=state.platform_id,
                    data=_text(state.data),
                    superseded=True,
                    error=f"superseded: version {state.applied_version} already written",
                )
            )
        elif state.mode == "live":
            outcome = await self._write_live(conn, customer, params, state)
        else:
            outcome = self._write_sandbox(params, state)
        await q.close_fan_out(
            conn,
            customer,
            params,
            outcome.result,
            write=outcome.write,
            etag=outcome.etag,
            remote_updated_at=outcome.remote_updated_at,
            logged_fields=outcome.logged_fields,
        )
        return outcome.result

    def _render(
        self, params: FanOutInput, state: q.FanOutState, stored: dict[str, Any], *, live: bool
    ) -> _Rendered | FanOutResult:
        """The target record after this propagation: every field changed since the version the record
        last saw, from this propagation's snapshot, in the platform's currency and ids, and a note of
        the fields left out because the platform computes them. A record that cannot be expressed on
        the platform, or text it would refuse, is a failed outcome (retrying will not help)."""
        if state.snapshot is None:
            raise ApplicationError("propagation snapshot missing", type="Inconsistent", non_retryable=True)
        fields = state.fields
        id_map = build_id_map(params.platform, state.references or [])
        try:
            record, view, context = render_for_target(
                params.platform,
                params.entity_type,
                stored,
                state.snapshot,
                fields,
                customer_id=params.customer_id,
                id_map=id_map,
            )
        except TransformError as err:
            return _unwritten(params, state, "failed", f"cannot map to {params.platform}: {err}", live=live)
        platform = get_platform(params.platform)
        computed = platform.computed_fields.get(params.entity_type, {})
        # A computed field is never sent: where its canonical value is unchanged, only its text differs.
        record.update({k: stored[k] for k in computed if k in stored})
        changes = {k: v for k, v in record.items() if stored.get(k) != v and not platform.is_annotation(k)}
        before = render_view(params.platform, params.entity_type, stored, params.customer_id, id_map)
        skipped, refused = write_problems(params.platform, params.entity_type, before, view, changes)
        # A change that is only computed fields has nothing to write; computed fields beside others are
        # left out and noted, so they never hold back the record's other fields (a failed target would
        # carry them into every later propagation of the record).
        if refused or (skipped and not changes):
            error = f"not written to {platform.title}: {'; '.join(refused + skipped)}"
            return _unwritten(params, state, "failed", error, live=live)
        if skipped:
            view = render_view(params.platform, params.entity_type, record, params.customer_id, id_map)
        note = f"not written to {platform.title}: {'; '.join(skipped)}" if skipped else None
        return _Rendered(record, view, context, fields, changes, note)

    def _write_sandbox(self, params: FanOutInput, state: q.FanOutState) -> _Outcome:
        assert state.data is not None and state.row_id is not None
        rendered = self._render(params, state, state.data, live=False)
        if isinstance(rendered, FanOutResult):
            return _Outcome(rendered)
        data = dumps_text(rendered.record)
        return _Outcome(
            _synced(params, state, data, rendered.view, rendered.context, live=False, note=rendered.note),
            write=(state.row_id, data),
            logged_fields=sorted(rendered.fields),
        )

    async def _write_live(
        self, conn: AsyncConnection, customer: uuid.UUID, params: FanOutInput, state: q.FanOutState
    ) -> _Outcome:
        """Write to the customer's platform over HTTP, holding the record's row lock so writes to one
        record are serialised. Concurrency: BC PATCH with If-Match = the stored ETag; Procore
        read-compare-write on `updated_at`. A stale token or a moved `updated_at` makes us read the
        record: if it already holds what we meant to write (an earlier attempt applied it and lost the
        response) the write is synced, otherwise it is a conflict and nothing is overwritten."""
        if self._connectors is None:
            raise ApplicationError(
                "live connectors are not configured on this worker", type="NotConfigured", non_retryable=True
            )
        assert state.data is not None and state.row_id is not None
        stored: dict[str, Any] = state.data
        base = dict(stored)
        rendered = self._render(params, state, stored, live=True)
        if isinstance(rendered, FanOutResult):
            return _Outcome(rendered)
        intended_view, context, fields = rendered.view, rendered.context, rendered.fields
        platform = get_platform(params.platform)
        # The connection settings are read in this transaction (a session joined to it, never committing it).
        session = AsyncSession(bind=conn)
        try:
            client = await self._connectors.client(session, customer, params.platform)
        finally:
            await session.close()
        try:
            # Annotations are never sent; read-only fields the client leaves out of its write body itself.
            remote, status = await client.write(params.entity_type, base, rendered.changes, overwrite=params.overwrite)
        except RetryableError as err:
            raise platform_unavailable(err) from err
        except RejectedError as err:
            return _Outcome(_unwritten(params, state, "failed", err.message))
        if status == "conflict":
            theirs = render_view(
                params.platform, params.entity_type, {**stored, **remote}, params.customer_id, context.id_map
            )
            last_read = render_view(params.platform, params.entity_type, stored, params.customer_id, context.id_map)
            differing = sorted(f for f in intended_view if f not in _NOT_COMPARED and theirs.get(f) != intended_view[f])
            if await _only_ours(conn, customer, params, state, theirs, last_read, differing):
                # Nobody else changed what we compare: the record moved under an earlier write of ours
                # whose answer was lost (still being retried), or in fields we do not sync. Not a conflict.
                try:
                    remote, status = await client.write(params.entity_type, base, rendered.changes, overwrite=True)
                except RetryableError as err:
                    raise platform_unavailable(err) from err
                except RejectedError as err:
                    return _Outcome(_unwritten(params, state, "failed", err.message))
        if status == "conflict":
            plan = await _rule_plan(
                conn,
                customer,
                params,
                {f: (intended_view.get(f) != last_read.get(f), theirs.get(f) != last_read.get(f)) for f in differing},
                platform.updated_at(remote),
            )
            over = [f for f, d in plan.items() if d == "overwrite"]
            left = [f for f, d in plan.items() if d != "overwrite"]
            if over:
                # Our values win on these fields: canonical's, rendered for the platform (a field
                # only they changed is among them when a rule or direction says so), written over theirs.
                assert state.snapshot is not None
                native, _, _ = render_for_target(
                    params.platform,
                    params.entity_type,
                    stored,
                    state.snapshot,
                    over,
                    customer_id=params.customer_id,
                    id_map=context.id_map,
                )
                computed = platform.computed_fields.get(params.entity_type, {})
                subset = {
                    k: native[k]
                    for k in native_keys(params.platform, params.entity_type, over)
                    if k in native and k not in computed and remote.get(k) != native[k]
                }
                if subset:
                    try:
                        remote, _ = await client.write(params.entity_type, base, subset, overwrite=True)
                    except RetryableError as err:
                        raise platform_unavailable(err) from err
                    except RejectedError as err:
                        return _Outcome(_unwritten(params, state, "failed", err.message))
            if left:
                follow = any(plan[f] == "theirs" for f in left)
                message = (
                    "The record was changed on the platform since it was last read; nothing was "
                    "overwritten. Resolve it in the conflict queue (GET /api/v1/conflicts), or propagate "
                    "again with overwrite=true to replace it."
                    if not follow
                    else "The record was changed on the platform since it was last read, and the connection's "
                    "rule gives that change the win: it is read and applied everywhere."
                )
                result = _unwritten(params, state, "conflict", message, conflict_data=dumps_text(remote))
                result.canonical_view = theirs
                result.conflict_fields = left
                result.follow_remote = follow
                if not over:
                    return _Outcome(result)
                # Part written: the stored copy takes the platform's version but keeps our last
                # values of the fields still theirs, so reading it again sees their change.
                kept = native_keys(params.platform, params.entity_type, left)
                merged = {**stored, **remote, **{k: stored[k] for k in kept if k in stored}}
                return _Outcome(
                    result,
                    write=(state.row_id, dumps_text(merged)),
                    etag=platform.etag(remote),
                    remote_updated_at=platform.updated_at(remote),
                )
            status = "written"  # every differing field went our way
        record = {**stored, **remote}
        data = dumps_text(record)
        view = render_view(params.platform, params.entity_type, record, params.customer_id, context.id_map)
        # A 2xx is not proof: a platform may drop a field it will not take. What came back decides.
        unapplied = [f for f in sorted(fields) if f in intended_view and view.get(f) != intended_view[f]]
        result = (
            _synced(params, state, data, view, context, live=True, note=rendered.note)
            if not unapplied
            else _unwritten(
                params,
                state,
                "failed",
                f"{platform.title} accepted the write but did not apply "
                + "; ".join(f"{f} (sent {intended_view[f]!r}, reads {view.get(f)!r})" for f in unapplied),
            )
        )
        return _Outcome(
            result,
            write=(state.row_id, data),
            etag=platform.etag(remote),
            remote_updated_at=platform.updated_at(remote),
            # a recovered write is ours, its response lost; one applied in part is not logged as done
            logged_fields=sorted(fields) if status in ("written", "recovered") and not unapplied else None,
        )

    @activity.defn
    async def record_outcome(self, params: RecordOutcomeInput) -> RecordOutcomeResult:
        """What the caller is told, durable before it is told. Synced targets recorded themselves."""
        unsynced = [o for o in params.outcomes if o.status != "synced"]
        # One transaction: the outcome and its events commit together (or neither).
        async with self._engine.begin() as conn:
            opened: list[tuple[str, FanOutResult]] = []
            for outcome in unsynced:
                if outcome.status == "conflict":
                    conflict = await cq.open_conflict(
                        conn,
                        params.propagation_id,
                        outcome.platform,
                        platform_id=outcome.platform_id,
                        fields=outcome.conflict_fields,
                        platform_values=outcome.canonical_view or {},
                        platform_record=outcome.conflict_data,
                    )
                    if conflict is not None:
                        opened.append((conflict, outcome))
                await q.save_target(
                    conn,
                    params.propagation_id,
                    outcome.platform,
                    status=outcome.status,
                    platform_id=outcome.platform_id,
                    data=outcome.data,
                    error=outcome.error,
                    conflict_data=outcome.conflict_data,
                )
            customer = await q.finish(conn, params.propagation_id, params.status, params.response)
            if params.live:
                # Open conflicts this change settled (a platform now synced, or the platform the change
                # came from) close themselves as stale. Sandbox connections never conflict.
                await cq.close_stale(conn, params.propagation_id, params.settled)
            if customer is not None:
                await _emit_outcome(conn, customer, params, opened)
        return RecordOutcomeResult()


async def _emit_outcome(
    conn: AsyncConnection,
    customer: uuid.UUID,
    params: RecordOutcomeInput,
    opened: list[tuple[str, FanOutResult]],
) -> None:
    """The events of a pass's outcome: the propagation's, and each conflict it opened (last in the
    transaction: see ``store.events``)."""
    canonical = params.response.get("canonical") or {}
    for conflict, outcome in opened:
        await events_q.emit(
            conn,
            customer,
            "conflict.opened",
            payloads.conflict(
                conflict,
                {
                    "canonical_id": canonical.get("id"),
                    "entity_type": canonical.get("entity_type"),
                    "platform": outcome.platform,
                    "platform_id": outcome.platform_id,
                    "fields": outcome.conflict_fields,
                    "propagation_id": params.propagation_id,
                },
            ),
            key=f"{conflict}|{params.propagation_id}",
        )
    event_type = propagation_event(params.status)
    if event_type is not None:
        await events_q.emit(
            conn,
            customer,
            event_type,
            payloads.propagation(params.propagation_id, params.response),
            key=f"{params.propagation_id}|{payloads.fingerprint(params.response)}",
        )


def _synced(
    params: FanOutInput,
    state: q.FanOutState,
    data: str,
    view: dict[str, Any],
    context: MappingContext,
    *,
    live: bool,
    note: str | None = None,
) -> FanOutResult:
    """A written platform record (`data`, JSON text), its canonical view and the references met;
    `note` says which changed fields the platform computes and so did not take."""
    resolved, unresolved = reference_report(params.platform, context)
    return FanOutResult(
        platform=params.platform,
        status="synced",
        platform_id=state.platform_id,
        data=data,
        canonical_view=view,
        live=live,
        error=note,
        resolved=[Reference(**_ref(r)) for r in resolved],
        unresolved=[Reference(**_ref(r)) for r in unresolved],
    )


async def _only_ours(
    conn: AsyncConnection,
    customer: uuid.UUID,
    params: FanOutInput,
    state: q.FanOutState,
    theirs: dict[str, Any],
    last_read: dict[str, Any],
    differing: list[str],
) -> bool:
    """Whether every compared field the platform's record changed since we read it holds a value
    canonical had at a version still being written to it (our own write, its answer lost)."""
    changed = [f for f in differing if theirs.get(f) != last_read.get(f)]
    if not changed:
        return True
    if state.applied_version is None or state.applied_version >= params.version:
        return False
    written = await q.canonical_values_since(conn, customer, params.canonical_id, state.applied_version, params.version)
    return all(any(after.get(f) == theirs.get(f) for after in written) for f in changed)


async def _rule_plan(
    conn: AsyncConnection,
    customer: uuid.UUID,
    params: FanOutInput,
    fields: dict[str, tuple[bool, bool]],
    remote_stamp: str | None,
) -> dict[str, Decision]:
    """Per differing field (with whether we and they changed it since we last read the record), what
    the connections' conflict rules and directions do with a conflict (``overwrite`` ours over theirs,
    take ``theirs``, or ``manual``). An ``overwrite`` propagation decides for itself: all ours. With
    no rule but ``manual`` the whole record waits for a person, as it always did; once a rule is set,
    a field only one side changed goes that side's way and the rule decides the fields both changed."""
    if params.overwrite:
        return dict.fromkeys(fields, "overwrite")
    platforms = [params.platform] + ([params.source_platform] if params.source_platform else [])
    found = await connection_rules(conn, customer)
    connections = [found.get(p, {}) for p in platforms]
    one_way = bool(
        params.source_platform and not flows(connections, params.entity_type, params.platform, params.source_platform)
    )
    rules = {f: rule_for(connections, params.entity_type, f) for f in fields}
    if not one_way and all(r == DEFAULT_RULE for r in rules.values()):
        return dict.fromkeys(fields, "manual")
    plan: dict[str, Decision] = {}
    for f, (ours, theirs) in fields.items():
        if one_way or (ours and theirs) or ours == theirs:
            plan[f] = decide(
                rules[f],
                source=params.source_platform,
                target=params.platform,
                source_stamp=params.source_stamp,
                remote_stamp=remote_stamp,
                one_way=one_way,
            )
        else:
            plan[f] = "overwrite" if ours else "theirs"
    return plan


#: Canonical keys that are not business values: never a conflict's fields.
_NOT_COMPARED = frozenset({"id", "object", "external_ids", "provider_metadata"})


def _unwritten(
    params: FanOutInput,
    state: q.FanOutState,
    status: TargetStatus,
    error: str,
    conflict_data: str | None = None,
    *,
    live: bool = True,
) -> FanOutResult:
    """A write that could not be made (failed: refused, or not expressible on the platform) or that
    would have overwritten a remote change (conflict)."""
    return FanOutResult(
        platform=params.platform,
        status=status,
        platform_id=state.platform_id,
        live=live,
        error=error,
        conflict_data=conflict_data,
    )


def platform_unavailable(err: RetryableError) -> ApplicationError:
    """A platform outage or throttling as a retryable activity failure, its Retry-After honoured."""
    return ApplicationError(
        err.message,
        type="PlatformUnavailable",
        next_retry_delay=timedelta(seconds=err.retry_after) if err.retry_after else None,
    )


def _text(value: object) -> str | None:
    return None if value is None else dumps_text(value)


def _ref(entry: dict[str, object]) -> dict[str, object]:
    return {k: entry.get(k) for k in ("field", "canonical_id", "platform_id", "injected", "reason", "platform")}
