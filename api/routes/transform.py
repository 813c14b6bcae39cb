"""POST /transform: stateless translation preview (no database access at all)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from starlette.responses import Response

from api.auth import StatelessKey, authenticate_stateless
from api.errors import ApiError, ErrorType
from api.schemas import AnyEntityType, error_responses
from canonical.errors import RequestShapeError, TransformError
from platforms.registry import PlatformName, platforms
from transform.service import translate

router = APIRouter(tags=["Transform"])


def _context_model() -> type[BaseModel]:
    """The request's `context`: the keys every translation reads, plus those the platforms add
    (``Platform.transform_context``, e.g. Procore's ``commitmentType``)."""
    fields: dict[str, Any] = {
        "currency": (str | None, Field(default=None, description="The customer's local (BC) currency, e.g. QAR")),
        "targetCurrency": (str | None, Field(default=None, description="Write amounts in this currency")),
        "customerId": (str | None, Field(default=None, description="Namespace of the canonical ids")),
        "references": (
            dict[str, dict[str, Any]] | None,
            Field(default=None, description="{entity_type: {source native id: target native id or {id, number}}}"),
        ),
    }
    for platform in platforms():
        for key, (annotation, description) in platform.transform_context.items():
            fields[key] = (annotation, Field(default=None, description=description))
    return create_model(
        "TransformContext",
        __config__=ConfigDict(extra="forbid"),
        __doc__="What a mapper may need beyond the record (see transform/service.py for the details).",
        **fields,
    )


TransformContext = _context_model()


class TransformRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: PlatformName
    target: PlatformName
    entity_type: AnyEntityType
    data: dict[str, Any] = Field(description="The record in the source platform's native shape")
    context: TransformContext | None = None  # type: ignore[valid-type]


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
    """The route FastAPI documents (and serves if `fast_endpoint` is not mounted in front of it)."""
    return _respond(body, request)


async def fast_endpoint(request: Request) -> Response:
    """POST /transform as a plain Starlette endpoint, mounted ahead of the documented route.

    Same contract, same checks in the same order (see below): FastAPI's per-request resolution
    of the body model and the key dependency cost more than the translation itself, and this is
    the hot stateless route. Errors take the app's handlers (the same envelopes)."""
    # In FastAPI's order, with its errors: the JSON is parsed first (malformed: 400), then the key
    # checked (401), then the body validated against the model (400).
    try:
        parsed = json.loads(await request.body())
    except ValueError as err:  # JSONDecodeError, or bytes that are not UTF-8
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": str(err)}]) from None
    await authenticate_stateless(request)
    if not isinstance(parsed, dict):  # what FastAPI's validation of a body model says
        msg = "Input should be a valid dictionary or object to extract fields from"
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",), "msg": msg}])
    try:
        body = TransformRequest.model_validate(parsed)
    except ValidationError as err:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in err.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    return _respond(body, request)


def _respond(body: TransformRequest, request: Request) -> Response:
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
