"""Events for API callers: the pull feed (GET /events), the type catalogue, and webhook endpoints
(thin: events.service)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AnyUrl, BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import CallerDep
from api.deps import SettingsDep, TemporalDep
from api.errors import ErrorType, from_service, json_response
from api.pagination import decode_cursor, encode_cursor
from api.schemas import error_responses
from events import service
from events.service import EventsError
from events.types import EVENT_TYPES, EventType

router = APIRouter(tags=["Events"])

MAX_PAGE = 500
# Ids are ours (`we_...`, `evt_...`): anything else names nothing (and a NUL could not even be looked up).
ID_PATTERN = r"^[A-Za-z0-9_]+$"
EndpointId = Annotated[
    str, Path(min_length=1, max_length=40, pattern=ID_PATTERN, description="The endpoint's id (`we_...`)")
]
# PostgreSQL text cannot hold NUL: refused as invalid input rather than failing in the database.
Description = Annotated[str, Field(max_length=500, pattern=r"^[^\x00]*$")]


class EventOut(BaseModel):
    id: str = Field(description="Stable id; the `webhook-id` header of its deliveries")
    type: str
    timestamp: str = Field(description="When the change it describes committed")
    customer_id: str
    data: dict[str, Any]


class EventPage(BaseModel):
    data: list[EventOut]
    pagination: dict[str, Any] = Field(
        description="`next_cursor`: pass as `after` to go on (also on the last page: poll with it); `has_more`"
    )


class EventTypeOut(BaseModel):
    type: str
    description: str


class EventTypesEnvelope(BaseModel):
    data: list[EventTypeOut]


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str | None
    event_types: list[EventType] = Field(description="The types delivered (empty: all)")
    enabled: bool
    disabled_reason: str | None = Field(description="Why delivery stopped (an endpoint failing for too long)")
    failing_since: str | None
    failures: int = Field(description="Failed attempts in a row of the event at the head of its queue")
    previous_secret_expires_at: str | None = Field(description="Until when the secret before a rotation still signs")
    created_at: str
    updated_at: str


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The signing secret (`whsec_...`): shown only now, store it")


class EndpointEnvelope(BaseModel):
    data: EndpointOut


class EndpointSecretEnvelope(BaseModel):
    data: EndpointWithSecret


class EndpointList(BaseModel):
    data: list[EndpointOut]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyUrl = Field(description="https URL to a public address (http and local hosts only where allowed)")
    event_types: list[EventType] | None = Field(default=None, description="Types to deliver (default: all)")
    description: Description | None = None
    enabled: bool = True


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyUrl | None = None
    event_types: list[EventType] | None = None
    description: Description | None = None
    enabled: bool | None = Field(default=None, description="true: deliver again from where it stopped")


class AttemptOut(BaseModel):
    event_id: str
    event_type: str
    attempt: int = Field(description="1 for the first attempt of this event to this endpoint")
    at: str
    outcome: str = Field(description="delivered | failed")
    status_code: int | None
    error: str | None
    duration_ms: int
    next_attempt_at: str | None


class AttemptPage(BaseModel):
    data: list[AttemptOut]
    pagination: dict[str, Any]


class RedeliverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str | None = Field(default=None, max_length=40, pattern=ID_PATTERN, description="Deliver this event again")
    since: datetime | None = Field(default=None, description="Deliver every event since this time again, in order")


class Redelivery(BaseModel):
    endpoint_id: str
    queued: int
    enabled: bool = Field(description="A disabled endpoint delivers them once enabled again")


class RedeliveryEnvelope(BaseModel):
    data: Redelivery


class Deleted(BaseModel):
    id: str
    deleted: bool


class DeletedEnvelope(BaseModel):
    data: Deleted


_READ_ERRORS = error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND)
_WRITE_ERRORS = error_responses(
    ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND, ErrorType.UNSUPPORTED_MEDIA_TYPE
)


def _failed(err: EventsError) -> Exception:
    return from_service(err)


@router.get(
    "/events",
    response_model=EventPage,
    responses=error_responses(ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR),
    summary="The event feed",
    description="This customer's events in the order they happened (the order webhook endpoints receive them), "
    "kept for at least 30 days. Poll with `after` = the last `pagination.next_cursor`.",
)
async def list_events(
    caller: CallerDep,
    after: Annotated[str | None, Query(description="`pagination.next_cursor` of the previous page")] = None,
    types: Annotated[list[EventType] | None, Query(description="Only these types (repeat the parameter)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    try:
        items, cursor, more = await service.feed(
            caller.conn, caller.owner.customer_id, after=decode_cursor(after), types=list(types or []), limit=limit
        )
    except EventsError as err:
        raise _failed(err) from err
    return json_response({"data": items, "pagination": {"next_cursor": encode_cursor(cursor), "has_more": more}})


@router.get(
    "/event-types",
    response_model=EventTypesEnvelope,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR),
    summary="The event types and what their data holds",
)
async def event_types(caller: CallerDep) -> Response:
    return json_response({"data": [{"type": t, "description": d} for t, d in EVENT_TYPES.items()]})


@router.post(
    "/webhook-endpoints",
    status_code=201,
    response_model=EndpointSecretEnvelope,
    responses=_WRITE_ERRORS,
    summary="Add a webhook endpoint",
    description="Events from now on are POSTed to the URL in order, signed per the Standard Webhooks "
    "specification with the endpoint's own secret (returned only in this answer), each until acknowledged "
    "with a 2xx, retried with backoff for up to 3 days.",
)
async def create_endpoint(
    body: EndpointCreate, caller: CallerDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    await caller.conn.close()
    try:
        data = await service.create_endpoint(
            caller.engine,
            temporal,
            settings,
            caller.owner.customer_id,
            url=str(body.url),
            description=body.description,
            event_types=list(body.event_types) if body.event_types is not None else None,
            enabled=body.enabled,
        )
    except EventsError as err:
        raise _failed(err) from err
    return json_response({"data": data}, status=201)


@router.get(
    "/webhook-endpoints",
    response_model=EndpointList,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR),
    summary="List webhook endpoints",
)
async def list_endpoints(caller: CallerDep) -> Response:
    return json_response({"data": await service.list_endpoints(caller.conn, caller.owner.customer_id)})


@router.get(
    "/webhook-endpoints/{endpoint_id}",
    response_model=EndpointEnvelope,
    responses=_READ_ERRORS,
    summary="A webhook endpoint",
)
async def show_endpoint(endpoint_id: EndpointId, caller: CallerDep) -> Response:
    try:
        data = await service.get_endpoint(caller.conn, caller.owner.customer_id, endpoint_id)
    except EventsError as err:
        raise _failed(err) from err
    return json_response({"data": data})


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response_model=EndpointEnvelope,
    responses=_WRITE_ERRORS,
    summary="Change a webhook endpoint",
    description="`enabled: true` delivers again from the first event it had not acknowledged.",
)
async def update_endpoint(
    endpoint_id: EndpointId, body: EndpointPatch, caller: CallerDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    await caller.conn.close()
    changes = body.model_dump(exclude_unset=True)
    for name in ("url", "enabled"):
        if name in changes and changes[name] is None:
            raise _failed(EventsError("validation", f"{name} cannot be null"))
    if "url" in changes:
        changes["url"] = str(changes["url"])
    if "event_types" in changes and changes["event_types"] is None:
        changes["event_types"] = []
    try:
        data = await service.update_endpoint(
            caller.engine, temporal, settings, caller.owner.customer_id, endpoint_id, changes
        )
    except EventsError as err:
        raise _failed(err) from err
    return json_response({"data": data})


@router.delete(
    "/webhook-endpoints/{endpoint_id}", response_model=DeletedEnvelope, responses=_READ_ERRORS, summary="Remove one"
)
async def delete_endpoint(endpoint_id: EndpointId, caller: CallerDep, temporal: TemporalDep) -> Response:
    await caller.conn.close()
    try:
        await service.delete_endpoint(caller.engine, temporal, caller.owner.customer_id, endpoint_id)
    except EventsError as err:
        raise _failed(err) from err
    return json_response({"data": {"id": endpoint_id, "deleted": True}})


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=EndpointSecretEnvelope,
    responses=_READ_ERRORS,
    summary="Rotate the signing secret",
    description="Returns the new secret (only now). Deliveries carry signatures with both the new and the old "
    "secret until `previous_secret_expires_at` (WEBHOOK_SECRET_GRACE_SECONDS, a day by default).",
)
async def rotate_secret(endpoint_id: EndpointId, caller: CallerDep, settings: SettingsDep) -> Response:
    await caller.conn.close()
    try:
        data = await service.rotate_secret(caller.engine, settings, caller.owner.customer_id, endpoint_id)
    except EventsError as err:
        raise _failed(err) from err
    return json_response({"data": data})


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=AttemptPage,
    responses=error_responses(ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR, ErrorType.NOT_FOUND),
    summary="Every delivery attempt to the endpoint",
)
async def list_deliveries(
    endpoint_id: EndpointId,
    caller: CallerDep,
    event_id: Annotated[str | None, Query(max_length=40, pattern=ID_PATTERN)] = None,
    cursor: Annotated[str | None, Query(description="`pagination.next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    try:
        items, after = await service.deliveries(
            caller.conn,
            caller.owner.customer_id,
            endpoint_id,
            event_id=event_id,
            after=decode_cursor(cursor),
            limit=limit,
        )
    except EventsError as err:
        raise _failed(err) from err
    return json_response(
        {"data": items, "pagination": {"next_cursor": encode_cursor(after), "has_more": after is not None}}
    )


@router.post(
    "/webhook-endpoints/{endpoint_id}/redeliver",
    status_code=202,
    response_model=RedeliveryEnvelope,
    responses=_WRITE_ERRORS,
    summary="Deliver one event, or everything since a time, again",
    description="`event_id`: that event once more (same id and body). `since`: every event from then on again, "
    "in order.",
)
async def redeliver(
    endpoint_id: EndpointId, body: RedeliverRequest, caller: CallerDep, temporal: TemporalDep
) -> Response:
    await caller.conn.close()
    try:
        data = await service.redeliver(
            caller.engine, temporal, caller.owner.customer_id, endpoint_id, event_id=body.event_id, since=body.since
        )
    except EventsError as err:
        raise _failed(err) from err
    return json_response({"data": data}, status=202)
