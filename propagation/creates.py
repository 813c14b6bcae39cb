"""POST /objects: create a canonical object through the API and fan the create out.

Validated here, before anything is written: the canonical model's types, the fields a create needs
on the platforms (each platform refuses a record without them), the referenced objects (they must
exist for this customer, with the right type) and the platforms asked for (connected). Then a
CreateWorkflow stores the object and links or creates it on each platform, as for a record that
appeared on a platform; the caller gets its first pass in the propagate result shape.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.create import create_propagation_id
from canonical.entities import entity_type as entity_row
from canonical.ids import canonical_id as derive_canonical_id
from canonical.models import model_for
from models.create import CreateInput
from models.propagate import PropagateResponse
from propagation.logic import PatchError, check_storable
from propagation.service import PropagateError, propagation_id_for, public, request_digest
from store import creates as q
from store import propagate as pq
from workflows.create import CreateWorkflow, create_workflow_id
from workflows.names import customer_platform

#: What a create must carry, per entity type: what the platforms need to make the record (Procore's
#: POST schemas, BC's required document fields) and what links it to the same record elsewhere.
#: One of the tuples' fields is enough where a field is a tuple.
REQUIRED: Mapping[str, tuple[str | tuple[str, ...], ...]] = {
    "project": ("number", "name"),
    "customer": ("name",),
    "contract": ("number", "project_id", "customer_id"),
    "invoice": ("number", "contract_id"),
    "payment": ("amount", "payment_date", ("invoice_id", "contract_id")),
}
#: Set by the engine, never by a caller.
ASSIGNED = ("id", "object", "external_ids")


@dataclass(frozen=True)
class CreateCommand:
    customer_id: uuid.UUID
    entity_type: str
    data: dict[str, Any]
    platforms: list[str] | None
    idempotency_key: str | None
    request: dict[str, Any]


async def admit(conn: AsyncConnection, command: CreateCommand, *, limit: int, window_seconds: int) -> pq.Admission:
    """The rate-limit hit (/propagate's bucket: a create is a propagation) and an earlier use of the
    Idempotency-Key, in one statement."""
    return await pq.admit(
        conn,
        command.customer_id,
        bucket=f"propagate:{command.customer_id}",
        limit=limit,
        window_seconds=window_seconds,
        idempotency_key=command.idempotency_key,
        canonical_id=None,
        platform=None,
        platform_id=None,
    )


def validate(entity_type: str, data: Mapping[str, Any], canonical_id: str) -> dict[str, Any]:
    """The canonical object to store, or PropagateError naming every bad or missing field. Pure."""
    assigned = sorted(k for k in data if k in ASSIGNED)
    if assigned:
        raise PropagateError("validation", f"data.{assigned[0]} is assigned by the engine; leave it out")
    try:
        check_storable(dict(data))
        model = model_for(entity_type).model_validate({**data, "id": canonical_id})
    except PatchError as err:
        raise PropagateError("validation", str(err)) from err
    except ValidationError as err:
        problems = "; ".join(
            f"data.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise PropagateError("validation", problems) from err
    stored = model.model_dump(mode="json", exclude={"external_ids"})
    missing = [
        " or ".join(f"data.{f}" for f in ((need,) if isinstance(need, str) else need))
        for need in REQUIRED.get(entity_type, ())
        if not any(stored.get(f) not in (None, "") for f in ((need,) if isinstance(need, str) else need))
    ]
    if missing:
        raise PropagateError("validation", f"a new {entity_type} needs {', '.join(missing)}")
    return stored


async def check_context(conn: AsyncConnection, command: CreateCommand, stored: Mapping[str, Any]) -> None:
    """The referenced objects exist for this customer with the right types, and the platforms asked
    for are connected (PropagateError otherwise)."""
    references = {f: t for f, t in entity_row(command.entity_type).references.items() if stored.get(f)}
    found = await q.canonical_types(conn, command.customer_id, [str(stored[f]) for f in references])
    for field, wanted in references.items():
        if found.get(str(stored[field])) != wanted:
            raise PropagateError("validation", f"data.{field}: no {wanted} {stored[field]} (GET /objects lists them)")
    connected = await q.connected_platforms(conn, command.customer_id)
    if command.platforms is not None:
        unknown = sorted(set(command.platforms) - set(connected))
        if unknown:
            raise PropagateError("validation", f"platforms: not connected: {', '.join(unknown)}")
    if not connected:
        raise PropagateError("conflict", "No platform is connected: connect one first (POST /api/v1/connect)")


async def create(
    conn: AsyncConnection,
    command: CreateCommand,
    found: pq.Admission,
    *,
    temporal: Client,
    task_queue: str,
    wait_seconds: float,
) -> dict[str, Any]:
    """Create the object (or return the stored answer of a repeated Idempotency-Key): the API's `data`."""
    customer = str(command.customer_id)
    request_hash = request_digest(command.request)
    if command.idempotency_key and found.previous:
        if found.previous_hash != request_hash:
            raise PropagateError("conflict", "Idempotency-Key was already used with a different request")
        if found.previous_result is not None:
            return public(found.previous_result)
    # The same Idempotency-Key names the same object, hence the same CreateWorkflow.
    canonical_id = derive_canonical_id(
        command.entity_type, customer, "api", propagation_id_for(customer, command.idempotency_key)
    )
    stored = validate(command.entity_type, command.data, canonical_id)
    await check_context(conn, command, stored)
    await conn.close()
    params = CreateInput(
        customer_id=customer,
        canonical_id=canonical_id,
        entity_type=command.entity_type,
        data=stored,
        platforms=command.platforms,
        idempotency_key=command.idempotency_key,
        request={**command.request, "hash": request_hash},
    )
    start = WithStartWorkflowOperation(
        CreateWorkflow.run,
        params,
        id=create_workflow_id(customer, canonical_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=customer_platform(customer, "api"),
        static_summary=f"Create {command.entity_type} {canonical_id} (POST /objects)",
    )
    propagation_id = create_propagation_id(customer, canonical_id)
    try:
        response = await asyncio.wait_for(
            temporal.execute_update_with_start_workflow(CreateWorkflow.first_pass, start_workflow_operation=start),
            wait_seconds,
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise PropagateError(
            "unavailable",
            f"The create is still running (are workers running?); see GET /api/v1/propagations/{propagation_id}",
        ) from err
    except WorkflowAlreadyStartedError:
        # The same Idempotency-Key, and that create has finished: its answer.
        handle = temporal.get_workflow_handle(create_workflow_id(customer, canonical_id), result_type=PropagateResponse)
        try:
            response = await handle.result()
        except WorkflowFailureError as err:
            raise PropagateError(
                "unavailable", f"The create failed; see GET /api/v1/propagations/{propagation_id}"
            ) from err
    return public(response)
