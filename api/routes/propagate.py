"""POST /propagate, GET /propagations/{id}, POST /propagations/{id}/retry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api import ratelimit
from api.auth import CallerDep, CurrentKey
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ErrorType, from_service, json_response
from api.schemas import SyncedEntityType, error_responses
from platforms.registry import PlatformName
from propagation import service

router = APIRouter(tags=["Propagation"])


class PropagateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_type: SyncedEntityType
    format: Literal["canonical", "platform"] = Field(
        default="canonical", description="`canonical`: you have a canonical id. `platform`: a platform-native id."
    )
    data: dict[str, Any] = Field(description="The fields to update (canonical or native shape)")
    canonical_id: str | None = Field(default=None, description="Required when `format` is `canonical`")
    platform: PlatformName | None = Field(default=None, description="Required in platform mode")
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
    writeStatus: Literal["pending", "synced", "conflict", "failed", "deleted", "kept", "refused"] | None = Field(
        default=None,
        description="Live connections only: the outbound write's status. A delete's outcome per platform is "
        "`deleted` (gone there), `kept` (its delete policy is tombstone_only) or `refused` (the platform would "
        "not delete it: `writeError` has its reason)",
    )
    writeError: str | None = Field(default=None, description="Live: why the write failed or conflicted")
    writeNote: str | None = Field(
        default=None,
        description="Changed fields the platform computes (document totals, statuses) and so did not take; "
        "the rest of the change was written",
    )
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
    limit = key.propagate_rate_limit or settings.propagate_requests_per_minute
    command = service.PropagateCommand(
        customer_id=key.customer_id,
        entity_type=body.entity_type,
        format=body.format,
        data=body.data,
        canonical_id=body.canonical_id,
        platform=body.platform,
        platform_id=body.platform_id,
        overwrite=body.overwrite,
        idempotency_key=idempotency_key,
        request=body.model_dump(mode="json"),
    )
    # One statement on the connection the key was checked on, then back to the pool before waiting.
    found = await service.admit(caller.conn, command, limit=limit, window_seconds=ratelimit.WINDOW_SECONDS)
    await caller.conn.close()
    ratelimit.check(ratelimit.decision(found.allowed, found.retry_after, found.remaining), limit)
    try:
        data = await service.propagate(
            command,
            found,
            temporal=temporal,
            engine=caller.engine,
            task_queue=settings.task_queue,
            wait_seconds=settings.propagate_wait_seconds,
        )
    except service.PropagateError as err:
        raise from_service(err) from err
    return json_response({"data": data})


@router.get(
    "/propagations/{propagation_id}",
    response_model=PropagationRecordEnvelope,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND),
    summary="A propagation's record: steps, per-platform outcome, errors",
)
async def get_propagation(propagation_id: str, key: CurrentKey, session: SessionDep) -> Response:
    try:
        data = await service.get_propagation(session, key.customer_id, propagation_id)
    except service.PropagateError as err:
        raise from_service(err) from err
    return json_response({"data": data})


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
    try:
        data = await service.retry(
            session, temporal, key.customer_id, propagation_id, wait_seconds=settings.propagate_wait_seconds
        )
    except service.PropagateError as err:
        raise from_service(err) from err
    return json_response({"data": data})
