"""POST /propagate, GET /propagations/{id}, POST /propagations/{id}/retry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from temporalio.client import (
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

from api import ratelimit
from api.auth import CallerDep, CurrentKey
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, ErrorType, json_response
from api.schemas import error_responses
from api.timefmt import iso_millis
from canonical.jsonio import loads
from models.propagate import PropagateResponse, RetryRequest
from propagation.logic import NativeChange, PatchError, check_storable, propagate_input, storable_text
from store import propagate as q
from workflows.names import CUSTOMER_ID
from workflows.propagate import PropagateWorkflow, propagate_workflow_id

router = APIRouter(tags=["Propagation"])
NOT_FOUND = "Entity mapping not found"
EntityType = Literal["payment", "project", "customer", "invoice", "contract"]


class PropagateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_type: EntityType
    format: Literal["canonical", "platform"] = Field(
        default="canonical", description="`canonical`: you have a canonical id. `platform`: a platform-native id."
    )
    data: dict[str, Any] = Field(description="The fields to update (canonical or native shape)")
    canonical_id: str | None = Field(default=None, description="Required when `format` is `canonical`")
    platform: Literal["procore", "dynamics"] | None = Field(default=None, description="Required in platform mode")
    platform_id: str | None = Field(default=None, min_length=1, description="Required in platform mode")
    overwrite: bool = Field(
        default=False,
        description="Live mode: write even though the platform record changed since it was "
        "read (resolves a reported conflict)",
    )


class PropagatedEntry(BaseModel):
    platform_id: str | None
    data: dict[str, Any] | None
    canonical_view: dict[str, Any] | None
    writeStatus: Literal["pending", "synced", "conflict", "failed"] | None = Field(
        default=None, description="Live connections only: the outbound write's status"
    )
    writeError: str | None = Field(default=None, description="Live: why the write failed or conflicted")
    conflictData: dict[str, Any] | None = Field(
        default=None, description="Live: the remote record as read after a concurrency rejection"
    )


class PropagationResult(BaseModel):
    propagation_id: str
    canonical: dict[str, Any]
    propagated: dict[str, PropagatedEntry]
    references: dict[str, list[dict[str, Any]]]
    status: Literal["synced", "partial", "noop", "pending", "conflict"]
    failed: dict[str, str] = Field(default_factory=dict, description="Platforms that failed, with the reason")


class PropagationEnvelope(BaseModel):
    data: PropagationResult


class PropagationRecord(BaseModel):
    id: str
    status: str
    canonical_id: str
    entity_type: str
    format: str
    source_platform: str | None
    canonical_version: int | None
    updated_fields: list[str] | None
    targets: list[dict[str, Any]]
    response: dict[str, Any] | None
    created_at: str
    updated_at: str


class PropagationRecordEnvelope(BaseModel):
    data: PropagationRecord


def _propagation_id(customer: str, idempotency_key: str | None) -> str:
    if idempotency_key:
        # The same key always names the same propagation, hence the same workflow: Temporal
        # itself dedupes a repeat that arrives while the first is still running.
        return "prop_" + hashlib.sha256(f"{customer}|{idempotency_key}".encode()).hexdigest()[:24]
    return "prop_" + secrets.token_hex(12)


@router.post(
    "/propagate",
    response_model=PropagationEnvelope,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR,
        ErrorType.AUTHENTICATION_ERROR,
        ErrorType.NOT_FOUND,
        ErrorType.CONFLICT_ERROR,
        ErrorType.RATE_LIMIT_ERROR,
        ErrorType.UNSUPPORTED_MEDIA_TYPE,
    ),
    summary="Propagate a change",
    description="Writes a change through the canonical layer and fans it out to every other connected platform "
    "the entity is mapped to. Not atomic across platforms: only platforms that succeeded appear in `propagated`. "
    "Rate limited to 300 requests per minute per customer. Send `Idempotency-Key` to make retries safe.",
)
async def propagate(
    body: PropagateRequest,
    caller: CallerDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Response:
    key = caller.owner
    customer = str(key.customer_id)
    limit = key.propagate_rate_limit or settings.propagate_requests_per_minute
    canonical_mode = body.format == "canonical"
    # Text PostgreSQL cannot hold names no record: looked up as absent (404 below), not sent to it.
    wanted_id = body.canonical_id if canonical_mode else body.platform_id
    lookup_id = wanted_id if wanted_id is not None and storable_text(wanted_id) else None
    # One statement on the connection the key was checked on: the rate-limit hit (autocommit: it
    # counts even when the request then fails), an earlier use of the Idempotency-Key, the entity.
    found = await q.admit(
        caller.conn,
        key.customer_id,
        bucket=f"propagate:{customer}",
        limit=limit,
        window_seconds=ratelimit.WINDOW_SECONDS,
        idempotency_key=idempotency_key,
        canonical_id=lookup_id if canonical_mode else None,
        platform=None if canonical_mode else body.platform,
        platform_id=None if canonical_mode else lookup_id,
    )
    await caller.conn.close()  # back to the pool before waiting on the workflow
    ratelimit.check(ratelimit.decision(found.allowed, found.retry_after, found.remaining), limit)

    if canonical_mode and not body.canonical_id:
        raise ApiError(ErrorType.VALIDATION_ERROR, "canonical_id is required when format is canonical")
    if not canonical_mode and not (body.platform and body.platform_id):
        raise ApiError(ErrorType.VALIDATION_ERROR, "platform and platform_id are required when format is platform")
    if lookup_id is None:
        raise ApiError(ErrorType.NOT_FOUND, NOT_FOUND)
    try:  # data with such text could never be stored
        check_storable(body.data)
    except PatchError as err:
        raise ApiError(ErrorType.VALIDATION_ERROR, str(err)) from err
    request = body.model_dump(mode="json")
    request_hash = _request_hash(request)
    if idempotency_key and found.previous:
        if found.previous_hash != request_hash:
            raise ApiError(ErrorType.CONFLICT_ERROR, "Idempotency-Key was already used with a different request")
        if found.previous_result is not None:
            return json_response({"data": _public(found.previous_result)})
    if found.canonical_id is None or found.entity_type is None or found.data is None:
        raise ApiError(ErrorType.NOT_FOUND, NOT_FOUND)
    canonical_id, entity_type = found.canonical_id, found.entity_type
    if entity_type != body.entity_type:
        raise ApiError(
            ErrorType.VALIDATION_ERROR,
            f"entity_type {body.entity_type!r} does not match the entity, which is a {entity_type}",
        )
    if canonical_mode:
        change: dict[str, Any] | NativeChange = body.data
    else:
        assert body.platform is not None and body.platform_id is not None and found.native is not None
        change = NativeChange(body.platform, body.platform_id, found.native, body.data)
    try:
        params = propagate_input(
            propagation_id=_propagation_id(customer, idempotency_key),
            customer_id=customer,
            canonical_id=canonical_id,
            entity_type=entity_type,
            current=found.data,
            change=change,
            request={**request, "hash": request_hash},
            idempotency_key=idempotency_key,
            overwrite=body.overwrite,
        )
    except PatchError as err:
        raise ApiError(ErrorType.VALIDATION_ERROR, str(err)) from err

    propagation_id = params.propagation_id
    start = WithStartWorkflowOperation(
        PropagateWorkflow.run,
        params,
        id=propagate_workflow_id(customer, propagation_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # A finished propagation is never started again under the same id (Idempotency-Key).
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer)]),
        static_summary=f"Propagate {entity_type} {canonical_id} ({body.format} mode)",
    )
    try:
        response = await asyncio.wait_for(
            temporal.execute_update_with_start_workflow(PropagateWorkflow.first_pass, start_workflow_operation=start),
            settings.propagate_wait_seconds,
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise ApiError(
            ErrorType.EXTERNAL_SERVICE_ERROR,
            f"Propagation {propagation_id} is still running (are workers running?); "
            f"see GET /api/v1/propagations/{propagation_id}",
        ) from err
    except WorkflowAlreadyStartedError:
        async with caller.engine.connect() as conn:
            stored = await q.get_propagation(conn, key.customer_id, propagation_id)
        if stored is None or stored.result is None:
            raise ApiError(ErrorType.CONFLICT_ERROR, "This propagation is finishing; retry shortly") from None
        return json_response({"data": _public(stored.result)})
    return json_response({"data": _public(response)})


def _request_hash(request: dict[str, Any]) -> str:
    """SHA-256 of the request as sorted JSON (orjson; the standard library for integers beyond 64
    bits, which orjson refuses: the same request always takes the same path, so it hashes alike)."""
    try:
        text = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        text = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(text).hexdigest()


def _public(response: PropagateResponse | dict[str, Any]) -> dict[str, Any]:
    """The response with native records as JSON (they travel as exact JSON text)."""
    body = response.model_dump(mode="json") if isinstance(response, PropagateResponse) else dict(response)
    body["propagated"] = {
        platform: {
            key: loads(value) if key in ("data", "conflictData") and isinstance(value, str) else value
            for key, value in entry.items()
        }
        for platform, entry in body.get("propagated", {}).items()
    }
    return body


@router.get(
    "/propagations/{propagation_id}",
    response_model=PropagationRecordEnvelope,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND),
    summary="A propagation's record: steps, per-platform outcome, errors",
)
async def get_propagation(propagation_id: str, key: CurrentKey, session: SessionDep) -> Response:
    row = await q.get_propagation(session, key.customer_id, propagation_id)
    if row is None:
        raise ApiError(ErrorType.NOT_FOUND, f"Propagation {propagation_id} not found")
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
    return json_response(
        {
            "data": {
                "id": row.id,
                "status": row.status,
                "canonical_id": row.canonical_id,
                "entity_type": row.entity_type,
                "format": row.format,
                "source_platform": row.source_platform,
                "canonical_version": row.canonical_version,
                "updated_fields": row.updated_fields,
                "targets": targets,
                "response": _public(row.result) if row.result else None,
                "created_at": iso_millis(row.created_at),
                "updated_at": iso_millis(row.updated_at),
            }
        }
    )


@router.post(
    "/propagations/{propagation_id}/retry",
    response_model=PropagationEnvelope,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND, ErrorType.CONFLICT_ERROR),
    summary="Replay the platforms that failed",
    description="Re-runs the fan-out for the platforms that failed, never the ones that succeeded.",
)
async def retry_propagation(
    propagation_id: str, key: CurrentKey, session: SessionDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    row = await q.get_propagation(session, key.customer_id, propagation_id)
    if row is None:
        raise ApiError(ErrorType.NOT_FOUND, f"Propagation {propagation_id} not found")
    if row.status != "partial":
        raise ApiError(ErrorType.CONFLICT_ERROR, f"Nothing to retry: the propagation is {row.status}")
    await session.rollback()
    handle = temporal.get_workflow_handle(propagate_workflow_id(str(key.customer_id), propagation_id))
    try:
        response = await asyncio.wait_for(
            handle.execute_update(PropagateWorkflow.retry, RetryRequest(requested_by="api")),
            settings.propagate_wait_seconds,
        )
    except (RPCError, WorkflowUpdateFailedError) as err:
        if isinstance(err, RPCError) and err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise ApiError(
            ErrorType.CONFLICT_ERROR, "The replay window of this propagation has closed; propagate the change again"
        ) from err
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
        raise ApiError(
            ErrorType.EXTERNAL_SERVICE_ERROR, "The replay is still running; check this propagation again"
        ) from err
    return json_response({"data": _public(response)})
