"""POST /objects and DELETE /objects/{canonical_id}: create and delete through the API (GET /objects
is with the connections' read routes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api import ratelimit
from api.auth import CallerDep
from api.deps import SettingsDep, TemporalDep
from api.errors import ErrorType, from_service, json_response
from api.routes.propagate import PropagationEnvelope
from api.schemas import SyncedEntityType, error_responses
from platforms.registry import PlatformName
from propagation import creates, deletes
from propagation.service import PropagateError

router = APIRouter(tags=["Objects"])


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_type: SyncedEntityType
    data: dict[str, Any] = Field(
        description="The new object's canonical fields (no `id`: the engine assigns it). References are "
        "canonical ids of existing objects (e.g. an invoice's `contract_id`)."
    )
    platforms: list[PlatformName] | None = Field(
        default=None, min_length=1, description="Create it on these connected platforms only (default: every one)"
    )


@router.post(
    "/objects",
    status_code=201,
    response_model=PropagationEnvelope,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR,
        ErrorType.AUTHENTICATION_ERROR,
        ErrorType.CONFLICT_ERROR,
        ErrorType.RATE_LIMIT_ERROR,
        ErrorType.UNSUPPORTED_MEDIA_TYPE,
        ErrorType.EXTERNAL_SERVICE_ERROR,
    ),
    summary="Create an object and fan the create out",
    description="Stores a new canonical object and links or creates its record on each connected platform "
    "(a platform record with the same business key is linked, never duplicated). The answer has the "
    "propagate result shape: `propagated` per platform with `platform_id` and `writeStatus` (`failed` with "
    "the platform's reason; replay with POST /propagations/{id}/retry). Shares /propagate's rate limit; "
    "send `Idempotency-Key` to make retries safe.",
)
async def create_object(
    body: CreateRequest,
    caller: CallerDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Response:
    key = caller.owner
    limit = key.propagate_rate_limit or settings.propagate_requests_per_minute
    command = creates.CreateCommand(
        customer_id=key.customer_id,
        entity_type=body.entity_type,
        data=body.data,
        platforms=list(dict.fromkeys(body.platforms)) if body.platforms else None,
        idempotency_key=idempotency_key,
        request=body.model_dump(mode="json"),
    )
    found = await creates.admit(caller.conn, command, limit=limit, window_seconds=ratelimit.WINDOW_SECONDS)
    ratelimit.check(ratelimit.decision(found.allowed, found.retry_after, found.remaining), limit)
    try:
        data = await creates.create(
            caller.conn,
            command,
            found,
            temporal=temporal,
            task_queue=settings.task_queue,
            wait_seconds=settings.propagate_wait_seconds,
        )
    except PropagateError as err:
        raise from_service(err) from err
    return json_response({"data": data}, status=201)


@router.delete(
    "/objects/{canonical_id}",
    response_model=PropagationEnvelope,
    responses=error_responses(
        ErrorType.AUTHENTICATION_ERROR,
        ErrorType.NOT_FOUND,
        ErrorType.RATE_LIMIT_ERROR,
        ErrorType.EXTERNAL_SERVICE_ERROR,
    ),
    summary="Delete an object",
    description="Marks the canonical object deleted (a tombstone with when and by whom; `/objects` hides it "
    "unless `include_deleted=true`) and applies each connection's delete policy to its record there: "
    "`tombstone_only` (default) keeps it (`writeStatus: kept`); `propagate` deletes it where the platform "
    "allows (`deleted`) and otherwise records `refused` with the platform's reason (a posted invoice, a "
    "customer with ledger entries: never forced). Idempotent: deleting again returns the first outcome. "
    "Shares /propagate's rate limit.",
)
async def delete_object(
    caller: CallerDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    canonical_id: Annotated[str, Path(min_length=1, max_length=32, description="The canonical id (GET /objects)")],
) -> Response:
    key = caller.owner
    limit = key.propagate_rate_limit or settings.propagate_requests_per_minute
    found = await creates.admit(
        caller.conn,
        creates.CreateCommand(
            customer_id=key.customer_id, entity_type="", data={}, platforms=None, idempotency_key=None, request={}
        ),
        limit=limit,
        window_seconds=ratelimit.WINDOW_SECONDS,
    )
    ratelimit.check(ratelimit.decision(found.allowed, found.retry_after, found.remaining), limit)
    try:
        data = await deletes.delete(
            caller.conn,
            caller.engine,
            key.customer_id,
            canonical_id,
            deleted_by=f"api:{key.key_id}",
            temporal=temporal,
            task_queue=settings.task_queue,
            wait_seconds=settings.propagate_wait_seconds,
        )
    except PropagateError as err:
        raise from_service(err) from err
    return json_response({"data": data})
