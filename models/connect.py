from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from canonical.entities import ENTITY_TYPES_BY_NAME, SYNCED_ENTITY_TYPES

# A registered platform's name (the API validates it against the registry before a workflow starts).
Platform = str
# Dependency order: every type only references types seeded before it (canonical.entities).
SEED_ORDER: tuple[str, ...] = SYNCED_ENTITY_TYPES
PLURAL = {t: ENTITY_TYPES_BY_NAME[t].plural for t in SEED_ORDER}


class ConnectInput(BaseModel):
    customer_id: str
    platform: Platform
    mode: Literal["sandbox", "live"] = "sandbox"
    # Sandbox data set: "demo" (the documented demo records) or "synthetic:<payments>" (load tests).
    dataset: str = "demo"
    trigger: str = Field(default="api", description="who started it: api, schedule, cli")


class ConnectResult(BaseModel):
    platform: Platform
    status: Literal["connected"] = "connected"
    entities: dict[str, int]
    generation: int
    linked: dict[str, int] = Field(default_factory=dict, description="entities linked to the other platform")


class ConnectProgress(BaseModel):
    phase: str
    entity_type: str | None = None
    done_types: int = 0
    total_types: int = len(SEED_ORDER)
    counts: dict[str, int] = Field(default_factory=dict)


class BeginConnectInput(BaseModel):
    customer_id: str
    platform: Platform
    mode: str


class BeginConnectResult(BaseModel):
    generation: int


class SeedInput(BaseModel):
    customer_id: str
    platform: Platform
    entity_type: str
    generation: int
    dataset: str = "demo"
    mode: Literal["sandbox", "live"] = "sandbox"


class SeedResult(BaseModel):
    count: int


class ReconcileInput(BaseModel):
    customer_id: str
    platform: Platform
    entity_type: str
    generation: int


class ReconcileResult(BaseModel):
    linked: int
    created: int


class ActivateInput(BaseModel):
    customer_id: str
    platform: Platform
    generation: int
    counts: dict[str, int]
    #: A live connect's start (the workflow's clock): the delta passes read from a little before it,
    #: not from the beginning of time (the connect read everything up to then).
    live_started_at: str | None = None


class ActivateResult(BaseModel):
    canonical_deleted: int


class FailConnectInput(BaseModel):
    customer_id: str
    platform: Platform
    generation: int
    error: str


class FailConnectResult(BaseModel):
    status: str = "error"


class ScheduledReseedInput(BaseModel):
    customer_id: str
    platform: Platform


class ScheduledReseedResult(BaseModel):
    started: bool
    result: ConnectResult | None = None
    skipped_reason: str | None = None
