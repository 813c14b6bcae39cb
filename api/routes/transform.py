"""POST /transform: stateless translation preview (no database access at all)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import StatelessKey
from api.errors import ApiError, ErrorType
from api.schemas import error_responses
from canonical.errors import RequestShapeError, TransformError
from canonical.ids import ENTITY_TYPES
from transform.service import translate

router = APIRouter(tags=["Transform"])

EntityType = Literal[
    "project",
    "customer",
    "contract",
    "invoice",
    "payment",
    "employee",
    "time_entry",
    "change_order",
    "budget_line_item",
]
assert set(EntityType.__args__) == set(ENTITY_TYPES)  # type: ignore[attr-defined]


class TransformContext(BaseModel):
    """What a mapper may need beyond the record (see transform/service.py for the details)."""

    model_config = ConfigDict(extra="forbid")
    commitmentType: Literal["WorkOrderContract", "PurchaseOrderContract"] | None = Field(
        default=None, description="Procore contracts without `type`"
    )
    currency: str | None = Field(default=None, description="The customer's local (BC) currency, e.g. QAR")
    targetCurrency: str | None = Field(default=None, description="Write amounts in this currency")
    customerId: str | None = Field(default=None, description="Namespace of the canonical ids")
    references: dict[str, dict[str, Any]] | None = Field(
        default=None, description="{entity_type: {source native id: target native id or {id, number}}}"
    )


class TransformRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Literal["procore", "dynamics"]
    target: Literal["procore", "dynamics"]
    entity_type: EntityType
    data: dict[str, Any] = Field(description="The record in the source platform's native shape")
    context: TransformContext | None = None


class TransformMetadata(BaseModel):
    source: str
    target: str
    entity_type: str
    canonical_version: str
    transformed_at: str
    request_id: str
    references: dict[str, list[dict[str, Any]]]


class TransformResponse(BaseModel):
    canonical: dict[str, Any]
    data: dict[str, Any]
    metadata: TransformMetadata


@router.post(
    "/transform",
    response_model=TransformResponse,
    responses=error_responses(
        ErrorType.VALIDATION_ERROR,
        ErrorType.AUTHENTICATION_ERROR,
        ErrorType.TRANSFORM_ERROR,
        ErrorType.UNSUPPORTED_MEDIA_TYPE,
    ),
    summary="Preview a translation",
    description="Translates one record from the source platform's native shape through the canonical model to "
    "the target's. Stateless: nothing is read or written. Returns `{canonical, data, metadata}` at the top "
    "level (no `data` envelope). A Procore contract needs `context.commitmentType` unless the record has `type`.",
    openapi_extra={"security": [{"bearerAuth": []}]},  # see authenticate_stateless
)
async def transform_record(body: TransformRequest, request: Request, _key: StatelessKey) -> Response:
    # The request id from the middleware's state directly: one dependency less to resolve.
    try:
        content = translate(
            body.source,
            body.target,
            body.entity_type,
            body.data,
            body.context.model_dump(exclude_none=True) if body.context else None,
            request_id=request.state.request_id,
            now=dt.datetime.now(dt.UTC),
        ).as_json()
    except TransformError as err:
        raise ApiError(ErrorType.TRANSFORM_ERROR, str(err)) from err
    except RequestShapeError as err:
        raise ApiError(ErrorType.VALIDATION_ERROR, str(err)) from err
    return Response(content=content, media_type="application/json")
