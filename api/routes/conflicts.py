"""The conflict queue: GET /conflicts, GET /conflicts/{id}, POST /conflicts/{id}/resolve (thin:
propagation.conflicts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api import ratelimit
from api.auth import CallerDep
from api.deps import SettingsDep, TemporalDep
from api.errors import ErrorType, from_service, json_response
from api.pagination import decode_cursor, encode_cursor
from api.schemas import SyncedEntityType, error_responses
from platforms.registry import PlatformName
from propagation import conflicts
from propagation.service import PropagateError

router = APIRouter(tags=["Conflicts"])

MAX_PAGE = 200


class ConflictSummary(BaseModel):
    id: str
    status: Literal["open", "resolved", "stale"]
    canonical_id: str
    entity_type: str
    platform: str
    platform_id: str | None
    propagation_id: str = Field(description="The propagation whose write found the platform changed")
    fields: list[str] = Field(description="Canonical fields on which canonical and the platform differ")
    canonical_values: dict[str, Any] = Field(description="Canonical's values of those fields at conflict time")
    platform_values: dict[str, Any] = Field(description="The platform's values of those fields at conflict time")
    opened_at: str
    updated_at: str
    resolved_at: str | None
    resolved_by: str | None
    resolution: dict[str, Any] | None = Field(description="keep, per-field decisions, the propagation that applied it")
    closed_reason: str | None = Field(description="Why a stale conflict closed itself")


class ConflictDetail(ConflictSummary):
    canonical_now: dict[str, Any] = Field(description="Canonical's values of the fields now")
    canonical_deleted: bool
    platform_record: dict[str, Any] | None = Field(description="The platform's record as read at conflict time")
    platform_record_now: dict[str, Any] | None = Field(
        description="The platform's record as last read (webhooks and delta passes keep it current)"
    )
    platform_read_at: str | None


class ConflictPage(BaseModel):
    data: list[ConflictSummary]
    pagination: dict[str, Any]


class ConflictEnvelope(BaseModel):
    data: ConflictDetail


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep: Literal["canonical", "platform"] = Field(
        description="`canonical`: write canonical's values over the platform's; `platform`: take the platform's "
        "values into canonical and fan them out to every platform"
    )
    fields: dict[str, Literal["canonical", "platform"]] | None = Field(
        default=None, description="Per-field decisions overriding `keep` (fields of the conflict only)"
    )


class Resolved(BaseModel):
    conflict: ConflictDetail
    propagation: dict[str, Any] = Field(description="The propagation that applied the resolution (propagate result)")


class ResolvedEnvelope(BaseModel):
    data: Resolved


@router.get(
    "/conflicts",
    response_model=ConflictPage,
    responses=error_responses(ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR),
    summary="List conflicts",
    description="Oldest first. A conflict is a live write that was not made because the platform's record had "
    "changed since it was read. Cursor pagination: pass `pagination.next_cursor` as `cursor`.",
)
async def list_conflicts(
    caller: CallerDep,
    platform: Annotated[PlatformName | None, Query()] = None,
    entity_type: Annotated[SyncedEntityType | None, Query()] = None,
    status: Annotated[Literal["open", "resolved", "stale"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="`pagination.next_cursor` of the previous page")] = None,
) -> Response:
    items, after = await conflicts.list_conflicts(
        caller.conn,
        caller.owner.customer_id,
        platform=platform,
        entity_type=entity_type,
        status=status,
        after=decode_cursor(cursor),
        limit=limit,
    )
    next_cursor = encode_cursor(after)
    return json_response({"data": items, "pagination": {"next_cursor": next_cursor, "has_more": after is not None}})


@router.get(
    "/conflicts/{conflict_id}",
    response_model=ConflictEnvelope,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND),
    summary="A conflict: both sides then and now",
)
async def show_conflict(conflict_id: str, caller: CallerDep) -> Response:
    try:
        data = await conflicts.show(caller.conn, caller.owner.customer_id, conflict_id)
    except PropagateError as err:
        raise from_service(err) from err
    return json_response({"data": data})


@router.post(
    "/conflicts/{conflict_id}/resolve",
    response_model=ResolvedEnvelope,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR,
        ErrorType.AUTHENTICATION_ERROR,
        ErrorType.NOT_FOUND,
        ErrorType.CONFLICT_ERROR,
        ErrorType.EXTERNAL_SERVICE_ERROR,
    ),
    summary="Resolve a conflict",
    description="Keep canonical's values (written over the platform's) or take the platform's (into canonical, "
    "then to every platform), for all the conflict's fields or per field. Records who resolved it, how and "
    "when; a conflict that is not open (resolved, or closed as stale by a later change) is a 409. Counts "
    "against /propagate's rate limit.",
)
async def resolve_conflict(
    conflict_id: str, body: ResolveRequest, caller: CallerDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    key = caller.owner
    try:
        data = await conflicts.resolve(
            caller.conn,
            caller.engine,
            key.customer_id,
            conflict_id,
            keep=body.keep,
            per_field=body.fields,
            by=f"api:{key.key_id}",
            temporal=temporal,
            task_queue=settings.task_queue,
            wait_seconds=settings.propagate_wait_seconds,
            rate_limit=key.propagate_rate_limit or settings.propagate_requests_per_minute,
            window_seconds=ratelimit.WINDOW_SECONDS,
        )
    except PropagateError as err:
        raise from_service(err) from err
    return json_response({"data": data})
