"""Periodic re-seeds of a connected platform, backed by Temporal Schedules."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import CurrentKey
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, ErrorType
from api.schemas import error_responses
from canonical.timefmt import iso_millis
from platforms.registry import PlatformName, PlatformNameOut
from scheduling import reseed
from store.objects import connection_status

router = APIRouter(tags=["Schedules"])


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: PlatformName
    interval_seconds: int = Field(
        description="Seconds between re-seeds (at least RESEED_MIN_INTERVAL_SECONDS)", ge=1, le=366 * 86400
    )


class ScheduleItem(BaseModel):
    schedule_id: str
    platform: PlatformNameOut
    interval_seconds: int
    next_run_at: str | None


class ScheduleEnvelope(BaseModel):
    data: ScheduleItem


class ScheduleList(BaseModel):
    schedules: list[ScheduleItem]


class ScheduleListEnvelope(BaseModel):
    data: ScheduleList


def _item(info: reseed.ReseedScheduleInfo) -> ScheduleItem:
    return ScheduleItem(
        schedule_id=info.schedule_id,
        platform=info.platform,
        interval_seconds=info.interval_seconds,
        next_run_at=iso_millis(info.next_run_at) if info.next_run_at else None,
    )


@router.post(
    "/schedules",
    status_code=201,
    response_model=ScheduleEnvelope,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR,
        ErrorType.AUTHENTICATION_ERROR,
        ErrorType.CONFLICT_ERROR,
        ErrorType.UNSUPPORTED_MEDIA_TYPE,
    ),
    summary="Schedule a periodic re-seed",
    description="Creates a Temporal Schedule that re-connects (destructively re-seeds) the platform every "
    "`interval_seconds`; a re-seed still running when the next is due is skipped. The platform must be "
    "connected; one schedule per platform.",
)
async def create_schedule(
    body: ScheduleRequest, key: CurrentKey, session: SessionDep, temporal: TemporalDep, settings: SettingsDep
) -> ScheduleEnvelope:
    if body.interval_seconds < settings.reseed_min_interval_seconds:
        raise ApiError(
            ErrorType.VALIDATION_ERROR, f"interval_seconds must be at least {settings.reseed_min_interval_seconds}"
        )
    if await connection_status(session, key.customer_id, body.platform) != "active":
        raise ApiError(ErrorType.CONFLICT_ERROR, f"{body.platform} is not connected; connect it first")
    try:
        info = await reseed.create(
            temporal, session, key.customer_id, body.platform, body.interval_seconds, settings.task_queue
        )
    except reseed.ScheduleExists as err:
        raise ApiError(
            ErrorType.CONFLICT_ERROR, f"A re-seed schedule for {body.platform} exists; delete it first"
        ) from err
    await session.commit()
    return ScheduleEnvelope(data=_item(info))


@router.get(
    "/schedules",
    response_model=ScheduleListEnvelope,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR),
    summary="List re-seed schedules",
)
async def list_schedules(key: CurrentKey, session: SessionDep, temporal: TemporalDep) -> ScheduleListEnvelope:
    infos = await reseed.list_for_customer(temporal, session, key.customer_id)
    return ScheduleListEnvelope(data=ScheduleList(schedules=[_item(i) for i in infos]))


@router.delete(
    "/schedules/{platform}",
    status_code=204,
    response_class=Response,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND),
    summary="Delete a re-seed schedule",
)
async def delete_schedule(
    platform: PlatformName, key: CurrentKey, session: SessionDep, temporal: TemporalDep
) -> Response:
    if not await reseed.delete_one(temporal, session, key.customer_id, platform):
        raise ApiError(ErrorType.NOT_FOUND, f"No re-seed schedule for {platform}")
    await session.commit()
    return Response(status_code=204)
