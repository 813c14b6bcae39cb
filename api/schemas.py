"""Response models used for the OpenAPI document (routes render JSON directly for speed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from api.errors import DESCRIPTIONS, STATUS, ErrorType
from canonical.entities import ALL_ENTITY_TYPES, SYNCED_ENTITY_TYPES, SYNCED_NAMES


class ErrorBody(BaseModel):
    type: ErrorType = Field(description="Machine-readable error code")
    message: str = Field(description="Human-readable error description")
    request_id: str = Field(pattern=r"^req_[0-9a-f]{12}$", description="Quote this in support requests")


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class HealthChecks(BaseModel):
    database: Literal["ok", "error"]
    temporal: Literal["ok", "error"]
    workers: Literal["ok", "error"] = Field(
        description="A worker is alive (heartbeat) and every task queue has a worker polling it"
    )


class HealthData(BaseModel):
    status: Literal["ok", "degraded"]
    timestamp: str
    checks: HealthChecks
    pollers: dict[str, int] = Field(
        description="Live pollers per task queue (`<queue>` workflows, `<queue>/activities` activities)"
    )
    workers_alive: int = Field(description="Worker processes that recorded a heartbeat in the last 15 s")


class HealthEnvelope(BaseModel):
    data: HealthData


class DemoSession(BaseModel):
    api_key: str = Field(pattern=r"^sk_demo_[A-Za-z0-9]+$")
    customer_id: str


class DemoSessionEnvelope(BaseModel):
    data: DemoSession


def error_responses(*types: ErrorType) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error types, all with our envelope.

    Every authenticated/validated route can also answer 413 (a body over the limit), 500 and 502, so
    those are always added.
    """
    wanted = [*types, ErrorType.PAYLOAD_TOO_LARGE, ErrorType.INTERNAL_ERROR, ErrorType.EXTERNAL_SERVICE_ERROR]
    out: dict[int | str, dict[str, Any]] = {}
    for t in wanted:
        status = STATUS[t]
        entry = out.setdefault(status, {"model": ErrorEnvelope, "description": ""})
        entry["description"] = (entry["description"] + "; " if entry["description"] else "") + (
            f"{t.value}: {DESCRIPTIONS[t]}"
        )
        if t is ErrorType.RATE_LIMIT_ERROR:
            entry["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    return out


# Entity-type enums of the API, from the entity table (canonical.entities): a Literal built at import
# time (the table is static), so validation errors and the OpenAPI document list the values.
if TYPE_CHECKING:
    SyncedEntityType = str
    SyncedEntityTypeName = str
    AnyEntityType = str
else:
    SyncedEntityType = Literal[SYNCED_ENTITY_TYPES]
    #: Singular or plural (``payment`` / ``payments``), as GET /objects accepts it.
    SyncedEntityTypeName = Literal[tuple(SYNCED_NAMES)]
    AnyEntityType = Literal[ALL_ENTITY_TYPES]
