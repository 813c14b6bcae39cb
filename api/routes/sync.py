"""Continuous sync of a live connection: a delta pass now, pause and resume (thin: scheduling.sync)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import CurrentKey
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ErrorType, from_service
from api.schemas import error_responses
from platforms.registry import PlatformName, PlatformNameOut
from scheduling.sync import SyncError, pause_sync, resume_sync, start_delta_pass

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
