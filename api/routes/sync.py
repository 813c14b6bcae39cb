"""Continuous sync of a live connection: a delta pass now, pause and resume (thin: scheduling.sync)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import CurrentKey
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ErrorType, from_service, json_response
from api.pagination import decode_cursor, encode_cursor
from api.schemas import SyncedEntityType, error_responses
from platforms.registry import PlatformName, PlatformNameOut
from scheduling.sync import SyncError, pause_sync, resume_sync, start_delta_pass
from scheduling.verify import report, start_verify

router = APIRouter(tags=["Connections"])

_ERRORS = error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND, ErrorType.CONFLICT_ERROR)


class SyncStarted(BaseModel):
    platform: PlatformNameOut
    status: Literal["started"]
    workflow_id: str = Field(description="The DeltaSyncWorkflow in the Temporal UI (one pass at a time)")


class SyncEnvelope(BaseModel):
    data: SyncStarted


class PauseState(BaseModel):
    platform: PlatformNameOut
    paused: bool
    workflow_id: str | None = Field(default=None, description="Resume: the ResumeSyncWorkflow handing on held changes")


class PauseEnvelope(BaseModel):
    data: PauseState


@router.post(
    "/connections/{platform}/sync",
    status_code=202,
    response_model=SyncEnvelope,
    responses=_ERRORS,
    summary="Run a delta pass of a live connection now",
)
async def sync_now(
    platform: PlatformName,
    key: CurrentKey,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    sweep: Annotated[
        bool,
        Query(description="Also sweep for deleted records now (reads every record id; otherwise hourly)"),
    ] = False,
) -> SyncEnvelope:
    """Reads what changed on the platform since the last pass and applies it in platform mode, as
    webhooks do; a pass asked for while one runs joins it. Refused (409) while sync is paused."""
    try:
        workflow_id = await start_delta_pass(
            session, temporal, key.customer_id, platform, settings.task_queue, sweep=sweep
        )
    except SyncError as err:
        raise from_service(err) from err
    return SyncEnvelope(data=SyncStarted(platform=platform, status="started", workflow_id=workflow_id))


@router.post(
    "/connections/{platform}/pause",
    response_model=PauseEnvelope,
    responses=_ERRORS,
    summary="Pause the automatic sync of a live connection",
)
async def pause(platform: PlatformName, key: CurrentKey, session: SessionDep, temporal: TemporalDep) -> PauseEnvelope:
    """Delta passes and subscription checks stop; the platform's notifications are still
    acknowledged, and held until resume (none is lost). Changes already under way finish;
    `/propagate` still works."""
    try:
        state: dict[str, Any] = await pause_sync(session, temporal, key.customer_id, platform)
    except SyncError as err:
        raise from_service(err) from err
    return PauseEnvelope(data=PauseState(platform=platform, paused=bool(state.get("paused"))))


@router.post(
    "/connections/{platform}/resume",
    response_model=PauseEnvelope,
    responses=_ERRORS,
    summary="Resume the automatic sync of a live connection",
)
async def resume(
    platform: PlatformName, key: CurrentKey, session: SessionDep, temporal: TemporalDep, settings: SettingsDep
) -> PauseEnvelope:
    """Held changes are applied in the order they arrived, then a delta pass catches up what the
    platform changed without announcing it."""
    try:
        workflow_id = await resume_sync(session, temporal, key.customer_id, platform, settings.task_queue)
    except SyncError as err:
        raise from_service(err) from err
    return PauseEnvelope(data=PauseState(platform=platform, paused=False, workflow_id=workflow_id))


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repair: bool = Field(
        default=False,
        description="Follow every drifted record as a platform change (what a lost webhook would have done)",
    )


class VerifyStarted(BaseModel):
    platform: PlatformNameOut
    status: Literal["started"]
    verify_id: str = Field(description="GET /api/v1/verify/{verify_id}; also the VerifyWorkflow's id")


class VerifyStartedEnvelope(BaseModel):
    data: VerifyStarted


class VerifyReport(BaseModel):
    id: str
    platform: str
    status: Literal["running", "completed", "failed"]
    repair: bool
    error: str | None
    started_at: str | None
    finished_at: str | None
    counts: dict[str, dict[str, int]] = Field(
        description="Per entity type: checked, in_sync, drifted, known (differs as when last read), missing"
    )
    records: list[dict[str, Any]] = Field(description="Records not in sync, with per-field canonical and platform values")
    pagination: dict[str, Any]


class VerifyReportEnvelope(BaseModel):
    data: VerifyReport


@router.post(
    "/connections/{platform}/verify",
    status_code=202,
    response_model=VerifyStartedEnvelope,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND, ErrorType.CONFLICT_ERROR
    ),
    summary="Verify a live connection: compare every mapped record with canonical",
    description="Reads every mapped record from the platform (paged, rate limited, resumable) and compares it "
    "with canonical field by field: in sync; `drifted` (the platform changed it since the engine last read "
    "it, with both values and the platform's last-modified time); `known` (differs as it did when last read, "
    "e.g. a name each platform spells its own way); `missing` (gone from the platform). With `repair`, each "
    "drifted record is followed as a platform change. The operator's first tool when the numbers don't match.",
)
async def verify(
    platform: PlatformName,
    key: CurrentKey,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    body: VerifyRequest | None = None,
) -> VerifyStartedEnvelope:
    try:
        run_id = await start_verify(
            session, temporal, key.customer_id, platform, settings.task_queue, repair=bool(body and body.repair)
        )
    except SyncError as err:
        raise from_service(err) from err
    return VerifyStartedEnvelope(data=VerifyStarted(platform=platform, status="started", verify_id=run_id))


@router.get(
    "/verify/{verify_id}",
    response_model=VerifyReportEnvelope,
    responses=error_responses(ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND),
    summary="A verify run's report",
    description="Counts per entity type and the records not in sync, oldest finding first (cursor pagination).",
)
async def verify_report(
    verify_id: str,
    key: CurrentKey,
    session: SessionDep,
    entity_type: Annotated[SyncedEntityType | None, Query()] = None,
    status: Annotated[Literal["drifted", "known", "missing"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="`pagination.next_cursor` of the previous page")] = None,
) -> Response:
    try:
        data = await report(
            session,
            key.customer_id,
            verify_id,
            entity_type=entity_type,
            status=status,
            after=decode_cursor(cursor),
            limit=limit,
        )
    except SyncError as err:
        raise from_service(err) from err
    after = data.pop("next_after")
    data["pagination"] = {"next_cursor": encode_cursor(after), "has_more": after is not None}
    return json_response({"data": data})
