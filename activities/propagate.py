"""Activities of PropagateWorkflow: canonical update, source mirror, per-platform fan-out, record.

Every activity is idempotent under retry and Reset: keyed on the propagation id (a business key
carried in the input), never on the run id. The database enforces "a propagation writes a platform
at most once" (platform_writes unique key) and "never regress" (applied_version).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from canonical.errors import TransformError
from canonical.jsonio import dumps_text
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
)
from platforms.base import MappingContext
from platforms.http import RejectedError, RetryableError
from platforms.live import Connectors, write_with_concurrency_check
from propagation.logic import apply_patch, build_id_map, reference_report, render_for_target, render_view
from store import propagate as q

REFERENCE_FIELDS = ("project_id", "customer_id", "contract_id", "invoice_id", "employee_id")


class PropagateActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], connectors: Connectors | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._connectors = connectors

    @activity.defn
    async def apply_canonical_update(self, params: PropagateInput) -> CanonicalUpdateResult:
        """Step 1, one transaction: lock the entity, apply the patch, bump the version, record it."""
        customer = uuid.UUID(params.customer_id)
        async with self._sessionmaker() as session, session.begin():
            done = await q.existing_update(session, params.propagation_id)
            if done is None:
                row = await q.lock_canonical(session, customer, params.canonical_id)
                if row is None:
                    raise ApplicationError("Entity mapping not found", type="NotFound", non_retryable=True)
                data, updated = apply_patch(row.data, params.canonical_patch)
                version = row.version + 1 if updated else row.version
                if updated:
                    await q.save_canonical(session, customer, params.canonical_id, data, version)
                await q.insert_propagation(
                    session,
                    propagation_id=params.propagation_id,
                    customer_id=customer,
                    canonical_id=params.canonical_id,
                    entity_type=params.entity_type,
                    format_=params.format,
                    source_platform=params.source_platform,
                    idempotency_key=params.idempotency_key,
                    request_hash=params.request.get("hash"),
                    request=params.request,
                    status="applied" if updated else "noop",
                    version=version,
                    updated_fields=updated,
                    canonical_after=data,
                )
            else:
                version, updated, data = done.canonical_version, list(done.updated_fields or []), done.canonical_after
            targets = await q.fan_out_targets(session, customer, params.canonical_id, params.source_platform)
            modes = await q.connection_modes(session, customer, targets)
        return CanonicalUpdateResult(version=version, updated_fields=updated, data=data, targets=targets, modes=modes)

    @activity.defn
    async def mirror_source(self, params: MirrorInput) -> MirrorResult:
        """Step 2 (platform mode): the stored source record matches what the platform sent."""
        customer = uuid.UUID(params.customer_id)
        async with self._sessionmaker() as session, session.begin():
            row = await q.lock_source(session, customer, params.platform, params.platform_id)
            if row is None:
                raise ApplicationError("source record no longer mapped", type="NotFound", non_retryable=True)
            merged = {**row.data, **params.native_patch}
            if merged == row.data:
                return MirrorResult(applied=False)
            await q.write_platform_object(session, row.row_id, merged, params.version)
        return MirrorResult(applied=True)

    @activity.defn
    async def fan_out(self, params: FanOutInput) -> FanOutResult:
        """Step 3, one platform: write the canonical change into that platform's record."""
        customer = uuid.UUID(params.customer_id)
        await self._simulated_outage(customer, params.platform)
        async with self._sessionmaker() as session, session.begin():
            previous = await q.target_outcome(session, params.propagation_id, params.platform)
            if previous is not None and previous.status == "synced":
                # A replay or retry of a platform that already succeeded: report, never re-write.
                return FanOutResult(
                    platform=params.platform,
                    status="synced",
                    platform_id=previous.platform_id,
                    data=_text(previous.data),
                )
            target = await q.lock_target(session, customer, params.canonical_id, params.platform)
            if target is None:
                raise ApplicationError(
                    f"{params.entity_type} is not mapped on {params.platform}", type="NotMapped", non_retryable=True
                )
            live = await q.connection_modes(session, customer, [params.platform]) == {params.platform: "live"}
            if target.applied_version >= params.version:
                # A newer propagation already brought this record past our version (and included
                # our fields): writing ours now would regress it.
                result = FanOutResult(
                    platform=params.platform,
                    status="synced",
                    platform_id=target.platform_id,
                    data=_text(target.data),
                    superseded=True,
                    error=f"superseded: version {target.applied_version} already written",
                )
            elif live:
                result = await self._write_live(session, customer, params, target)
            else:
                result = await self._write_sandbox(session, customer, params, target)
            await q.save_target(
                session,
                params.propagation_id,
                params.platform,
                status=result.status,
                platform_id=result.platform_id,
                data=result.data,
                error=result.error,
                conflict_data=result.conflict_data,
            )
        return result

    async def _render(
        self,
        session: AsyncSession,
        customer: uuid.UUID,
        params: FanOutInput,
        stored: dict[str, Any],
        applied_version: int,
        *,
        live: bool,
    ) -> tuple[dict[str, Any], dict[str, Any], MappingContext, set[str]] | FanOutResult:
        """The target record after this propagation: every field changed since the version the record
        last saw, from this propagation's snapshot, in the platform's currency and ids. A record that
        cannot be expressed on the platform is a failed outcome (retrying will not help)."""
        fields = await q.fields_between(session, customer, params.canonical_id, applied_version, params.version)
        snapshot = await q.snapshot_at(session, customer, params.canonical_id, params.version)
        if snapshot is None:
            raise ApplicationError("propagation snapshot missing", type="Inconsistent", non_retryable=True)
        refs = {snapshot[f] for f in REFERENCE_FIELDS if isinstance(snapshot.get(f), str)}
        id_map = build_id_map(params.platform, await q.native_ids(session, customer, params.platform, refs))
        try:
            record, view, context = render_for_target(
                params.platform,
                params.entity_type,
                stored,
                snapshot,
                fields,
                customer_id=params.customer_id,
                id_map=id_map,
            )
        except TransformError as err:
            return FanOutResult(
                platform=params.platform, status="failed", live=live, error=f"cannot map to {params.platform}: {err}"
            )
        return record, view, context, fields

    async def _write_sandbox(
        self, session: AsyncSession, customer: uuid.UUID, params: FanOutInput, target: object
    ) -> FanOutResult:
        applied_version: int = target.applied_version  # type: ignore[attr-defined]
        stored: dict[str, object] = target.data  # type: ignore[attr-defined]
        platform_id: str = target.platform_id  # type: ignore[attr-defined]
        rendered = await self._render(session, customer, params, stored, applied_version, live=False)
        if isinstance(rendered, FanOutResult):
            return rendered.model_copy(update={"platform_id": platform_id})
        record, view, context, fields = rendered
        await q.write_platform_object(session, target.row_id, record, params.version)  # type: ignore[attr-defined]
        await q.log_write(
            session,
            customer_id=customer,
            propagation_id=params.propagation_id,
            platform=params.platform,
            platform_id=platform_id,
            version=params.version,
            fields=sorted(fields),
        )
        resolved, unresolved = reference_report(params.platform, context)
        return FanOutResult(
            platform=params.platform,
            status="synced",
            platform_id=platform_id,
            data=_text(record),
            canonical_view=view,
            resolved=[Reference(**_ref(r)) for r in resolved],
            unresolved=[Reference(**_ref(r)) for r in unresolved],
        )

    async def _write_live(
        self, session: AsyncSession, customer: uuid.UUID, params: FanOutInput, target: Any
    ) -> FanOutResult:
        """Write to the customer's platform over HTTP, holding the record's row lock so writes to one
        record are serialised. Concurrency: BC PATCH with If-Match = the stored ETag; Procore
        read-compare-write on `updated_at`. A stale token or a moved `updated_at` makes us read the
        record: if it already holds what we meant to write (an earlier attempt applied it and lost the
        response) the write is synced, otherwise it is a conflict and nothing is overwritten."""
        if self._connectors is None:
            raise ApplicationError(
                "live connectors are not configured on this worker", type="NotConfigured", non_retryable=True
            )
        stored: dict[str, Any] = target.data
        base = dict(stored)
        rendered = await self._render(session, customer, params, stored, target.applied_version, live=True)
        if isinstance(rendered, FanOutResult):
            return rendered.model_copy(update={"platform_id": target.platform_id})
        intended, _, context, fields = rendered
        changes = {k: v for k, v in intended.items() if base.get(k) != v and not k.startswith("@odata")}
        client = await self._connectors.client(session, customer, params.platform)
        try:
            remote, status = await write_with_concurrency_check(
                client, params.platform, params.entity_type, base, changes, overwrite=params.overwrite
            )
        except RetryableError as err:
            raise ApplicationError(
                err.message,
                type="PlatformUnavailable",
                next_retry_delay=timedelta(seconds=err.retry_after) if err.retry_after else None,
            ) from err
        except RejectedError as err:
            return FanOutResult(
                platform=params.platform, status="failed", platform_id=target.platform_id, live=True, error=err.message
            )
        if status == "conflict":
            return FanOutResult(
                platform=params.platform,
                status="conflict",
                platform_id=target.platform_id,
                live=True,
                conflict_data=dumps_text(remote),
                error="The record was changed on the platform since it was last read; nothing was "
                "overwritten. Propagate again with overwrite=true to replace it.",
            )
        record = {**stored, **remote}
        await q.write_platform_object(
            session,
            target.row_id,
            record,
            params.version,
            etag=remote.get("@odata.etag"),
            remote_updated_at=remote.get("updated_at"),
        )
        if status in ("written", "recovered"):  # a recovered write is ours, its response lost
            await q.log_write(
                session,
                customer_id=customer,
                propagation_id=params.propagation_id,
                platform=params.platform,
                platform_id=target.platform_id,
                version=params.version,
                fields=sorted(fields),
            )
        view = render_view(params.platform, params.entity_type, record, params.customer_id, context.id_map)
        resolved, unresolved = reference_report(params.platform, context)
        return FanOutResult(
            platform=params.platform,
            status="synced",
            platform_id=target.platform_id,
            data=_text(record),
            canonical_view=view,
            live=True,
            resolved=[Reference(**_ref(r)) for r in resolved],
            unresolved=[Reference(**_ref(r)) for r in unresolved],
        )

    async def _simulated_outage(self, customer: uuid.UUID, platform: str) -> None:
        """Sandbox connections can simulate a platform outage (connections.settings.sandbox.fail_writes = N):
        the next N write attempts fail like an unavailable platform would. For demos and tests of
        partial success and replay; committed on its own so the countdown survives the failure."""
        async with self._sessionmaker() as session, session.begin():
            hit = (
                await session.execute(
                    text(
                        """
                        UPDATE connections
                           SET settings = jsonb_set(settings, '{sandbox,fail_writes}',
                                                    to_jsonb((settings #>> '{sandbox,fail_writes}')::int - 1))
                         WHERE customer_id = :c AND platform = :p AND mode = 'sandbox'
                           AND COALESCE((settings #>> '{sandbox,fail_writes}')::int, 0) > 0
                        RETURNING 1
                        """
                    ),
                    {"c": customer, "p": platform},
                )
            ).first()
        if hit is not None:
            raise ApplicationError(f"{platform} is unavailable (simulated sandbox outage)", type="PlatformUnavailable")

    @activity.defn
    async def record_outcome(self, params: RecordOutcomeInput) -> RecordOutcomeResult:
        async with self._sessionmaker() as session, session.begin():
            for outcome in params.outcomes:
                if outcome.status != "synced":
                    await q.save_target(
                        session,
                        params.propagation_id,
                        outcome.platform,
                        status=outcome.status,
                        platform_id=outcome.platform_id,
                        data=outcome.data,
                        error=outcome.error,
                        conflict_data=outcome.conflict_data,
                    )
            await q.finish(session, params.propagation_id, params.status, params.response)
        return RecordOutcomeResult()


def _text(value: object) -> str | None:
    return None if value is None else dumps_text(value)


def _ref(entry: dict[str, object]) -> dict[str, object]:
    return {k: entry.get(k) for k in ("field", "canonical_id", "platform_id", "injected", "reason", "platform")}
