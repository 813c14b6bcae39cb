"""FastAPI application factory: lifespan (engine + one Temporal client), middleware, error handlers.

Run with `uvicorn api.app:create_app --factory` (what `structural api` does).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from api.errors import ApiError, ErrorType, error_response
from api.middleware import RequestContextMiddleware
from api.routes import (
    conflicts,
    connections,
    demo,
    events,
    health,
    objects,
    propagate,
    schedules,
    sync,
    transform,
    webhooks,
)
from settings import Settings, get_settings
from store.engine import make_engine, make_sessionmaker

log = logging.getLogger("structural.api")

API_PREFIX = "/api/v1"

DESCRIPTION = """
Bidirectional data translation between construction management platforms
(Procore and Microsoft Dynamics 365 Business Central) through one canonical model.

Every success body is `{"data": ...}` (except `/transform`); every error is
`{"error": {"type", "message", "request_id"}}`. Every response carries `X-Request-ID` and
`API-Version: 1.0`. Non-GET requests with a body must send `Content-Type: application/json` (415).
"""


def _rid(request: Request) -> str:
    return str(getattr(request.state, "request_id", "req_000000000000"))


# The documented message of GET /objects when a required parameter is missing.
REQUIRED_QUERY_MESSAGES = {("platform", "entity_type"): "platform and entity_type query params required"}


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "Malformed JSON body"
    missing = {e["loc"][1] for e in errors if e.get("type") == "missing" and tuple(e.get("loc", ()))[:1] == ("query",)}
    for names, message in REQUIRED_QUERY_MESSAGES.items():
        if missing & set(names):
            return message
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "Invalid input"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.type, exc.message, _rid(request), status=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(ErrorType.VALIDATION_ERROR, _validation_message(exc), _rid(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(ErrorType.NOT_FOUND, f"Not found: {request.url.path}", _rid(request))
        if exc.status_code == 405:
            return error_response(
                ErrorType.VALIDATION_ERROR,
                f"Method {request.method} not allowed on {request.url.path}",
                _rid(request),
                status=405,
                headers=dict(exc.headers or {}),
            )
        type_ = ErrorType.VALIDATION_ERROR if exc.status_code < 500 else ErrorType.INTERNAL_ERROR
        return error_response(type_, str(exc.detail), _rid(request), status=exc.status_code)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> Response:
        log.error("database error: %s", exc)
        return error_response(ErrorType.EXTERNAL_SERVICE_ERROR, "Database unavailable", _rid(request))

    @app.exception_handler(RPCError)
    async def _temporal(request: Request, exc: RPCError) -> Response:
        log.error("temporal error: %s", exc)
        return error_response(ErrorType.EXTERNAL_SERVICE_ERROR, "Workflow service unavailable", _rid(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(ErrorType.INTERNAL_ERROR, "Internal server error", _rid(request))


def _custom_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title="Structural API",
        version="1.0",
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=app.routes,
        servers=[{"url": "/"}],
    )
    # FastAPI documents its own 422 HTTPValidationError; we answer 400 with our envelope instead.
    for path_item in schema.get("paths", {}).values():
        for op in path_item.values():
            responses = op.get("responses", {})
            ref = str(responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {}))
            if "HTTPValidationError" in ref:
                del responses["422"]
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.require_database_url())
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        # lazy=True: the API comes up (and /health says "degraded") even while Temporal is down.
        app.state.temporal = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            lazy=True,
        )
        try:
            yield
        finally:
            await engine.dispose()

    # /docs from the Swagger UI assets shipped in the fastapi-offline package: no CDN, so it renders
    # on a machine without internet.
    app = FastAPIOffline(
        title="Structural API",
        version="1.0",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Starlette matches routes in order: the stateless, high-volume /transform goes first (route
    # matching was a quarter of its time when last), served by its plain endpoint; the documented
    # FastAPI route behind it gives the OpenAPI document. The others' order does not matter.
    app.router.routes.insert(0, Route(f"{API_PREFIX}/transform", transform.fast_endpoint, methods=["POST"]))
    for module in (
        transform,
        health,
        demo,
        connections,
        objects,
        conflicts,
        sync,
        propagate,
        schedules,
        webhooks,
        events,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_request_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    # Added last = outermost, so CORS preflights are answered before the 415 check.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "API-Version", "Retry-After"],
    )
    app.openapi = lambda: _custom_openapi(app)  # type: ignore[method-assign]
    return app
