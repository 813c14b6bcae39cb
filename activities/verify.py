"""Verify: read every mapped record of a live connection from the platform and compare it with
canonical (``propagation.verify.drift``), field by field.

A record that differs is ``drifted`` when the platform changed it since the engine last read it
(a change no webhook or delta pass brought: repairable by following it), ``known`` when it differs
as it did when last read (a difference the platforms had at connect, such as a name each spells its
own way: kept, never overwritten by a verify), ``missing`` when the platform no longer has it (a
read confirms the 404). Findings are stored per run and type; a retried type starts over.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import as_activity_failures
from activities.heartbeat import keep_alive
from canonical.entities import entity_type as entity_row
from canonical.errors import TransformError
from models.verify import VerifyInput, VerifyResult, VerifyTypeResult
from models.webhook import DeltaChange
from platforms.http import RejectedError
from platforms.live import Connectors
from platforms.registry import get_platform
from propagation.logic import build_id_map
from propagation.verify import FieldDrift, drift
from store import creates as cq
from store import events as events_q
from store import verify as q

HEARTBEAT_EVERY = 200


def _field(d: FieldDrift, since_last_read: bool) -> dict[str, Any]:
    return {"field": d.field, "canonical": d.canonical, "platform": d.platform, "changed_on_platform": since_last_read}


class VerifyActivities:
    def __init__(self, engine: AsyncEngine, connectors: Connectors | None) -> None:
        self._engine = engine
        self._connectors = connectors

    @activity.defn
    async def start_verify(self, params: VerifyInput) -> None:
        async with self._engine.begin() as conn:
            await q.create_run(
                conn, params.run_id, uuid.UUID(params.customer_id), params.platform, repair=params.repair
            )

    @activity.defn
    async def verify_type(self, params: VerifyInput, entity_type: str) -> VerifyTypeResult:
        """Compare every mapped record of ``entity_type`` with canonical (paged reads, heartbeats)."""
        if self._connectors is None:
            raise ApplicationError("live connectors are not configured", type="NotConfigured", non_retryable=True)
        customer = uuid.UUID(params.customer_id)
        platform = get_platform(params.platform)
        async with self._engine.connect() as conn:
            mapped = await q.mapped_records(conn, customer, params.platform, entity_type)
            referenced = sorted(
                {str(data[f]) for _, _, data in mapped.values() for f in _reference_fields(entity_type) if data.get(f)}
            )
            links = await cq.reference_links(conn, customer, params.platform, referenced, platform.number_reference())
            session = AsyncSession(bind=conn)
            try:
                client = await self._connectors.client(session, customer, params.platform)
            except RejectedError as err:
                raise ApplicationError(err.message, type="NotConfigured", non_retryable=True) from err
            finally:
                await session.close()
        id_map = build_id_map(params.platform, links)
        found: list[dict[str, Any]] = []
        follow: list[DeltaChange] = []
        seen: set[str] = set()
        checked = in_sync = drifted = known = 0
        with as_activity_failures():
            async with keep_alive():
                async for record in client.records(entity_type):
                    platform_id = str(record.get("id"))
                    entry = mapped.get(platform_id)
                    if entry is None:
                        continue  # not mapped: new since the connect (a delta pass registers it)
                    seen.add(platform_id)
                    checked += 1
                    if checked % HEARTBEAT_EVERY == 0:
                        activity.heartbeat(checked)
                    canonical_id, stored, data = entry
                    try:
                        now = drift(
                            params.platform, entity_type, record, data, customer_id=params.customer_id, id_map=id_map
                        )
                        before = {
                            d.field: d.platform
                            for d in drift(
                                params.platform,
                                entity_type,
                                stored,
                                data,
                                customer_id=params.customer_id,
                                id_map=id_map,
                            )
                        }
                    except (TransformError, ValueError) as err:
                        found.append(
                            _finding(canonical_id, platform_id, "drifted", [{"field": "*", "error": str(err)}], None)
                        )
                        drifted += 1
                        continue
                    if not now:
                        in_sync += 1
                        continue
                    fields = [_field(d, d.field not in before or before[d.field] != d.platform) for d in now]
                    changed = any(f["changed_on_platform"] for f in fields)
                    stamp = platform.updated_at(record)
                    found.append(_finding(canonical_id, platform_id, "drifted" if changed else "known", fields, stamp))
                    if changed:
                        drifted += 1
                        follow.append(
                            DeltaChange(platform_id=platform_id, version=platform.etag(record) or stamp or "")
                        )
                    else:
                        known += 1
                missing = 0
                for platform_id in sorted(set(mapped) - seen):
                    activity.heartbeat(checked)
                    canonical_id, stored, _ = mapped[platform_id]
                    try:
                        await client.fetch(entity_type, stored)
                    except RejectedError as err:
                        if err.status != 404:
                            raise
                        missing += 1
                        found.append(_finding(canonical_id, platform_id, "missing", [], None))
        counts = {"checked": checked, "in_sync": in_sync, "drifted": drifted, "known": known, "missing": missing}
        async with self._engine.begin() as conn:
            await q.save_type(conn, params.run_id, entity_type, found, counts)
        return VerifyTypeResult(
            entity_type=entity_type,
            checked=checked,
            in_sync=in_sync,
            drifted=drifted,
            known=known,
            missing=missing,
            follow=follow if params.repair else [],
        )

    @activity.defn
    async def finish_verify(self, params: VerifyInput, result: VerifyResult) -> None:
        async with self._engine.begin() as conn:
            for t in result.types:
                if t.follow:
                    await q.mark_repaired(conn, params.run_id, t.entity_type, [c.platform_id for c in t.follow])
            await q.finish_run(conn, params.run_id, "completed")
            await events_q.emit(
                conn,
                uuid.UUID(params.customer_id),
                "verify.completed",
                {
                    "run_id": params.run_id,
                    "platform": params.platform,
                    "repair": params.repair,
                    "types": {
                        t.entity_type: {
                            "checked": t.checked,
                            "in_sync": t.in_sync,
                            "drifted": t.drifted,
                            "known": t.known,
                            "missing": t.missing,
                        }
                        for t in result.types
                    },
                },
                key=params.run_id,
            )

    @activity.defn
    async def fail_verify(self, params: VerifyInput, error: str) -> None:
        async with self._engine.begin() as conn:
            await q.finish_run(conn, params.run_id, "failed", error)


def _finding(
    canonical_id: str, platform_id: str, status: str, fields: list[dict[str, Any]], stamp: str | None
) -> dict[str, Any]:
    return {
        "canonical_id": canonical_id,
        "platform_id": platform_id,
        "status": status,
        "fields": fields,
        "platform_modified": stamp,
    }


def _reference_fields(entity_type: str) -> tuple[str, ...]:
    return tuple(entity_row(entity_type).references)
