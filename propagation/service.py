"""The propagate use case: admit a request, build the PropagateWorkflow input, run its first pass.

``POST /propagate`` validates and authenticates the request, then calls ``admit`` (one statement:
rate-limit hit, an earlier use of the Idempotency-Key, the entity) and, once the rate limit passed,
``propagate``. Replays (``retry``) and reads (``get_propagation``) live here too. Failures a caller
can act on are ``PropagateError`` with a kind the route turns into the documented error envelope.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from canonical.errors import ServiceError
from canonical.jsonio import loads
from canonical.timefmt import iso_millis
from models.propagate import PropagateResponse, RetryRequest
from propagation.logic import NativeChange, PatchError, check_storable, propagate_input, storable_text
from store import propagate as q
from workflows.create import create_workflow_id
from workflows.delete import delete_workflow_id
from workflows.names import CUSTOMER_ID
from workflows.propagate import PropagateWorkflow, propagate_workflow_id

NOT_FOUND = "Entity mapping not found"


class PropagateError(ServiceError):
    """A request that cannot be propagated as sent."""


@dataclass(frozen=True)
class PropagateCommand:
    """A propagate request as the API received it (already shape-checked by its model)."""

    customer_id: uuid.UUID
    entity_type: str
    format: Literal["canonical", "platform"]
    data: dict[str, Any]
    canonical_id: str | None
    platform: str | None
    platform_id: str | None
    overwrite: bool
    idempotency_key: str | None
    request: dict[str, Any]  # the request as JSON, for the record and its hash

    @property
    def lookup_id(self) -> str | None:
        """The id to look the entity up by; text PostgreSQL cannot hold names no record (None)."""
        wanted = self.canonical_id if self.format == "canonical" else self.platform_id
        return wanted if wanted is not None and storable_text(wanted) else None


async def admit(conn: AsyncConnection, command: PropagateCommand, *, limit: int, window_seconds: int) -> q.Admission:
    """One statement on the caller's connection: the rate-limit hit (autocommit: it counts even when
    the request then fails), an earlier use of the Idempotency-Key, the entity."""
    canonical_mode = command.format == "canonical"
    return await q.admit(
        conn,
        command.customer_id,
        bucket=f"propagate:{command.customer_id}",
        limit=limit,
        window_seconds=window_seconds,
        idempotency_key=command.idempotency_key,
        canonical_id=command.lookup_id if canonical_mode else None,
        platform=None if canonical_mode else command.platform,
        platform_id=None if canonical_mode else command.lookup_id,
    )


async def propagate(
    command: PropagateCommand,
    found: q.Admission,
    *,
    temporal: Client,
    engine: AsyncEngine,
    task_queue: str,
    wait_seconds: float,
) -> dict[str, Any]:
    """Run the propagation (or return the stored answer of a repeated Idempotency-Key): the API's `data`."""
    customer = str(command.customer_id)
    canonical_mode = command.format == "canonical"
    if canonical_mode and not command.canonical_id:
        raise PropagateError("validation", "canonical_id is required when format is canonical")
    if not canonical_mode and not (command.platform and command.platform_id):
        raise PropagateError("validation", "platform and platform_id are required when format is platform")
    if command.lookup_id is None:
        raise PropagateError("not_found", NOT_FOUND)
    try:  # data with such text could never be stored
        check_storable(command.data)
    except PatchError as err:
        raise PropagateError("validation", str(err)) from err
    request_hash = request_digest(command.request)
    if command.idempotency_key and found.previous:
        if found.previous_hash != request_hash:
            raise PropagateError("conflict", "Idempotency-Key was already used with a different request")
        if found.previous_result is not None:
            return public(found.previous_result)
    if found.canonical_id is None or found.entity_type is None or found.data is None:
        raise PropagateError("not_found", NOT_FOUND)
    canonical_id, entity_type = found.canonical_id, found.entity_type
    if entity_type != command.entity_type:
        raise PropagateError(
            "validation", f"entity_type {command.entity_type!r} does not match the entity, which is a {entity_type}"
        )
    if canonical_mode:
        change: dict[str, Any] | NativeChange = command.data
    else:
        assert command.platform is not None and command.platform_id is not None and found.native is not None
        change = NativeChange(command.platform, command.platform_id, found.native, command.data)
    try:
        params = propagate_input(
            propagation_id=propagation_id_for(customer, command.idempotency_key),
            customer_id=customer,
            canonical_id=canonical_id,
            entity_type=entity_type,
            current=found.data,
            change=change,
            request={**command.request, "hash": request_hash},
            idempotency_key=command.idempotency_key,
            overwrite=command.overwrite,
        )
    except PatchError as err:
        raise PropagateError("validation", str(err)) from err

    propagation_id = params.propagation_id
    start = WithStartWorkflowOperation(
        PropagateWorkflow.run,
        params,
        id=propagate_workflow_id(customer, propagation_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A finished propagation is never started again under the same id (Idempotency-Key).
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer)]),
        static_summary=f"Propagate {entity_type} {canonical_id} ({command.format} mode)",
    )
    try:
        response = await asyncio.wait_for(
            temporal.execute_update_with_start_workflow(PropagateWorkflow.first_pass, start_workflow_operation=start),
            wait_seconds,
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise PropagateError(
            "unavailable",
            f"Propagation {propagation_id} is still running (are workers running?); "
            f"see GET /api/v1/propagations/{propagation_id}",
        ) from err
    except WorkflowAlreadyStartedError:
        async with engine.connect() as conn:
            stored = await q.get_propagation(conn, command.customer_id, propagation_id)
        if stored is None or stored.result is None:
            raise PropagateError("conflict", "This propagation is finishing; retry shortly") from None
        return public(stored.result)
    return public(response)


async def retry(
    session: AsyncSession, temporal: Client, customer_id: uuid.UUID, propagation_id: str, *, wait_seconds: float
) -> dict[str, Any]:
    """Replay the platforms that failed and return the new answer (the API's `data`)."""
    row = await q.get_propagation(session, customer_id, propagation_id)
    if row is None:
        raise PropagateError("not_found", f"Propagation {propagation_id} not found")
    if row.status != "partial":
        raise PropagateError("conflict", f"Nothing to retry: the propagation is {row.status}")
    await session.rollback()
    # A create (a record new on one platform, or POST /objects) is replayed by its CreateWorkflow,
    # a delete by its DeleteWorkflow.
    if row.format == "create":
        workflow_id = create_workflow_id(str(customer_id), row.canonical_id)
    elif row.format == "delete":
        workflow_id = delete_workflow_id(str(customer_id), row.canonical_id)
    else:
        workflow_id = propagate_workflow_id(str(customer_id), propagation_id)
    handle = temporal.get_workflow_handle(workflow_id)
    try:
        response = await asyncio.wait_for(
            handle.execute_update("retry", RetryRequest(requested_by="api"), result_type=PropagateResponse),
            wait_seconds,
        )
    except (RPCError, WorkflowUpdateFailedError) as err:
        if isinstance(err, RPCError) and err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise PropagateError(
            "conflict", "The replay window of this propagation has closed; propagate the change again"
        ) from err
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise PropagateError("unavailable", "The replay is still running; check this propagation again") from err
    return public(response)


async def get_propagation(session: AsyncSession, customer_id: uuid.UUID, propagation_id: str) -> dict[str, Any]:
    """A propagation's record: steps, per-platform outcome, errors (the API's `data`)."""
    row = await q.get_propagation(session, customer_id, propagation_id)
    if row is None:
        raise PropagateError("not_found", f"Propagation {propagation_id} not found")
    targets = [
        {
            "platform": t.platform,
            "status": t.status,
            "platform_id": t.platform_id,
            "attempts": t.attempts,
            "error": t.error,
            "conflict_data": t.conflict_data,
            "updated_at": iso_millis(t.updated_at),
        }
        for t in await q.get_targets(session, propagation_id)
    ]
    return {
        "id": row.id,
        "status": row.status,
        "canonical_id": row.canonical_id,
        "entity_type": row.entity_type,
        "format": row.format,
        "source_platform": row.source_platform,
        "canonical_version": row.canonical_version,
        "updated_fields": row.updated_fields,
        "targets": targets,
        "response": public(row.result) if row.result else None,
        "created_at": iso_millis(row.created_at),
        "updated_at": iso_millis(row.updated_at),
    }


def propagation_id_for(customer: str, idempotency_key: str | None) -> str:
    if idempotency_key:
        # The same key always names the same propagation, hence the same workflow: Temporal
        # itself dedupes a repeat that arrives while the first is still running.
        return "prop_" + hashlib.sha256(f"{customer}|{idempotency_key}".encode()).hexdigest()[:24]
    return "prop_" + secrets.token_hex(12)


def request_digest(request: dict[str, Any]) -> str:
    """SHA-256 of the request as sorted JSON (orjson; the standard library for integers beyond 64
    bits, which orjson refuses: the same request always takes the same path, so it hashes alike)."""
    try:
        text = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        text = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(text).hexdigest()


def public(response: PropagateResponse | dict[str, Any]) -> dict[str, Any]:
    """The response with native records as JSON (they travel through the workflow as exact JSON text)."""
    body = response.model_dump(mode="json") if isinstance(response, PropagateResponse) else dict(response)
    body["propagated"] = {
        platform: {
            key: loads(value) if key in ("data", "conflictData") and isinstance(value, str) else value
            for key, value in entry.items()
        }
        for platform, entry in body.get("propagated", {}).items()
    }
    return body
