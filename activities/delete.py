"""Deletes: tombstone the canonical object, then per platform holding a record of it apply that
connection's delete policy, and record the outcome as a propagation (format ``delete``).

Finance first: a record is deleted on a platform only when its connection's policy is ``propagate``
and the platform's own rules allow it (a draft commitment, an unposted document); what the platform
refuses is recorded ``refused`` with its reason, never forced. Business Central deletes carry the
stored ETag, so a record somebody changed since we read it is not deleted blind.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.create import emit_record_events
from activities.propagate import platform_unavailable
from models.delete import DeleteInput, DeletePlan, DeleteTarget, DeleteTargetResult
from models.propagate import PropagateResponse
from platforms.http import RejectedError, RetryableError, StaleError
from platforms.live import Connectors
from store import creates as cq
from store import deletes as q


def delete_propagation_id(customer_id: str, canonical_id: str) -> str:
    """The propagation a delete is recorded as: one per canonical object (a repeat is the same)."""
    return "prop_" + hashlib.sha256(f"{customer_id}|delete|{canonical_id}".encode()).hexdigest()[:24]


class DeleteActivities:
    def __init__(self, engine: AsyncEngine, connectors: Connectors | None) -> None:
        self._engine = engine
        self._connectors = connectors

    @activity.defn
    async def tombstone(self, params: DeleteInput) -> DeletePlan:
        """Mark the canonical object deleted and list the platforms that still hold a record of it
        (the source's record is gone: it is forgotten here, so totals stay true)."""
        customer = uuid.UUID(params.customer_id)
        async with self._engine.begin() as conn:
            state = await q.tombstone(conn, customer, params.canonical_id, params.deleted_by)
            if state is None:
                return DeletePlan(entity_type="")
            entity_type, data, version, deleted_at, deleted_by = state
            if params.source_platform is not None:
                await q.forget_record(conn, customer, params.source_platform, params.canonical_id)
            # A create still owed to other platforms stops: the object is gone.
            await cq.drop_pending(conn, customer, params.canonical_id)
            targets = await q.delete_targets(conn, customer, params.canonical_id)
        return DeletePlan(
            entity_type=entity_type,
            version=version,
            deleted_at=deleted_at,
            deleted_by=deleted_by,
            data=data,
            targets=targets,
        )

    @activity.defn
    async def delete_on_target(self, params: DeleteInput, target: DeleteTarget) -> DeleteTargetResult:
        """Delete the object's record on ``target.platform`` (policy ``propagate``): ``deleted`` when it
        is gone (or was already), ``refused`` with the platform's reason. Outages retry."""
        customer = uuid.UUID(params.customer_id)
        live = target.mode == "live"
        async with self._engine.begin() as conn:
            stored = await q.stored_record(conn, customer, target.platform, params.canonical_id)
            if stored is None:  # forgotten by an earlier attempt whose answer was lost: gone
                return DeleteTargetResult(
                    platform=target.platform, status="deleted", platform_id=target.platform_id, live=live
                )
            entity_type, native = stored
            if live:
                if self._connectors is None:
                    raise ApplicationError(
                        "live connectors are not configured", type="NotConfigured", non_retryable=True
                    )
                session = AsyncSession(bind=conn)
                try:
                    client = await self._connectors.client(session, customer, target.platform)
                except RejectedError as err:
                    return _refused(target, err.message)
                finally:
                    await session.close()
                try:
                    await client.delete(entity_type, native)
                except RetryableError as err:
                    raise platform_unavailable(err) from err
                except StaleError:
                    return _refused(
                        target, "changed on the platform since the engine last read it; not deleted (review it there)"
                    )
                except RejectedError as err:
                    return _refused(target, err.message)
            await q.forget_record(conn, customer, target.platform, params.canonical_id)
        return DeleteTargetResult(platform=target.platform, status="deleted", platform_id=target.platform_id, live=live)

    @activity.defn
    async def record_delete(
        self, params: DeleteInput, plan: DeletePlan, outcomes: list[DeleteTargetResult]
    ) -> PropagateResponse:
        """The delete as a propagation (format ``delete``), in the propagate result shape."""
        customer = uuid.UUID(params.customer_id)
        propagation_id = delete_propagation_id(params.customer_id, params.canonical_id)
        problems = [o for o in outcomes if o.status in ("refused", "failed")]
        status = "partial" if problems else "synced"
        response = PropagateResponse(
            propagation_id=propagation_id,
            canonical={
                "id": params.canonical_id,
                "entity_type": plan.entity_type,
                "updated_fields": [],
                "data": plan.data,
                "deleted": {"at": plan.deleted_at, "by": plan.deleted_by},
            },
            propagated={
                o.platform: {
                    "platform_id": o.platform_id,
                    "data": None,
                    "canonical_view": None,
                    "writeStatus": o.status,
                    **({"writeError": o.error} if o.error else {}),
                }
                for o in sorted(outcomes, key=lambda o: o.platform)
            },
            references={"resolved": [], "unresolved": []},
            status=status,
            failed={o.platform: o.error or o.status for o in problems},
        )
        async with self._engine.begin() as conn:
            await cq.record_create(
                conn,
                customer,
                propagation_id,
                canonical_id=params.canonical_id,
                entity_type=plan.entity_type,
                source_platform=params.source_platform,
                request={"delete": params.model_dump()},
                status=status,
                version=plan.version,
                data=plan.data,
                result=response.model_dump(mode="json"),
                operation="delete",
            )
            await cq.save_targets(conn, propagation_id, outcomes)
            await emit_record_events(
                conn,
                customer,
                "delete",
                propagation_id,
                response.model_dump(mode="json"),
                params.canonical_id,
                params.source_platform,
            )
        return response


def _refused(target: DeleteTarget, reason: str) -> DeleteTargetResult:
    return DeleteTargetResult(
        platform=target.platform,
        status="refused",
        platform_id=target.platform_id,
        error=reason,
        live=target.mode == "live",
    )
