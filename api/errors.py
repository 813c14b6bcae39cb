"""The error contract: one envelope, one table of types, headers on every response."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any

import orjson
from starlette.responses import Response

from canonical.errors import ServiceError
from canonical.jsonio import dumps

API_VERSION = "1.0"


class ErrorType(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
    AUTHORIZATION_ERROR = "AUTHORIZATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT_ERROR = "CONFLICT_ERROR"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TRANSFORM_ERROR = "TRANSFORM_ERROR"
    RATE_LIMIT_ERROR = "RATE_LIMIT_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    EXTERNAL_SERVICE_ERROR = "EXTERNAL_SERVICE_ERROR"


STATUS: dict[ErrorType, int] = {
    ErrorType.VALIDATION_ERROR: 400,
    ErrorType.AUTHENTICATION_ERROR: 401,
    ErrorType.AUTHORIZATION_ERROR: 403,
    ErrorType.NOT_FOUND: 404,
    ErrorType.CONFLICT_ERROR: 409,
    ErrorType.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorType.PAYLOAD_TOO_LARGE: 413,
    ErrorType.TRANSFORM_ERROR: 422,
    ErrorType.RATE_LIMIT_ERROR: 429,
    ErrorType.INTERNAL_ERROR: 500,
    ErrorType.EXTERNAL_SERVICE_ERROR: 502,
}

DESCRIPTIONS: dict[ErrorType, str] = {
    ErrorType.VALIDATION_ERROR: "Body or query failed validation",
    ErrorType.AUTHENTICATION_ERROR: "API key missing, unknown or revoked",
    ErrorType.AUTHORIZATION_ERROR: "API key valid but not allowed to do this",
    ErrorType.NOT_FOUND: "Entity, mapping or resource does not exist (or belongs to another customer)",
    ErrorType.CONFLICT_ERROR: "Conflicts with the current state",
    ErrorType.UNSUPPORTED_MEDIA_TYPE: "Request body is not application/json",
    ErrorType.PAYLOAD_TOO_LARGE: "Request body larger than the API accepts (MAX_REQUEST_BODY_BYTES)",
    ErrorType.TRANSFORM_ERROR: "A mapper cannot translate the data",
    ErrorType.RATE_LIMIT_ERROR: "Too many requests; see Retry-After",
    ErrorType.INTERNAL_ERROR: "Unexpected error",
    ErrorType.EXTERNAL_SERVICE_ERROR: "An upstream (database, Temporal, platform API) failed",
}

AUTH_MESSAGE = "Invalid or missing API key"


def new_request_id() -> str:
    return "req_" + secrets.token_hex(6)


class ApiError(Exception):
    """Raised anywhere in request handling; rendered as the error envelope."""

    def __init__(
        self,
        type_: ErrorType,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status or STATUS[type_]
        self.headers = headers or {}


def standard_headers(request_id: str) -> dict[str, str]:
    return {"X-Request-ID": request_id, "API-Version": API_VERSION}


def error_body(type_: ErrorType, message: str, request_id: str) -> bytes:
    return orjson.dumps({"error": {"type": type_.value, "message": message, "request_id": request_id}})


def error_response(
    type_: ErrorType,
    message: str,
    request_id: str,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    # Headers are set here as well as by the middleware: 500 responses are sent by Starlette's
    # outermost ServerErrorMiddleware, outside our own middleware.
    all_headers = {**(headers or {}), **standard_headers(request_id)}
    return Response(
        content=error_body(type_, message, request_id),
        status_code=status or STATUS[type_],
        media_type="application/json",
        headers=all_headers,
    )


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=dumps(payload), status_code=status, media_type="application/json", headers=headers)


_SERVICE_KINDS: dict[str, ErrorType] = {
    "validation": ErrorType.VALIDATION_ERROR,
    "forbidden": ErrorType.AUTHORIZATION_ERROR,
    "not_found": ErrorType.NOT_FOUND,
    "conflict": ErrorType.CONFLICT_ERROR,
    "unavailable": ErrorType.EXTERNAL_SERVICE_ERROR,
}


def from_service(err: ServiceError) -> ApiError:
    """The envelope of a use case's refusal (``canonical.errors.ServiceError``)."""
    return ApiError(_SERVICE_KINDS[err.kind], err.message)
