from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

TargetStatus = Literal["pending", "synced", "conflict", "failed"]



class PropagateInput(BaseModel):
    propagation_id: str
    customer_id: str
    canonical_id: str
    entity_type: str
    format: Literal["canonical", "platform"]
    # Canonical fields to set (canonical mode, or what a platform-mode patch means canonically).
    canonical_patch: dict[str, Any]
    # Platform mode: the source platform, its record id and the native fields it sent.
    source_platform: str | None = None
    source_platform_id: str | None = None
    native_patch: dict[str, Any] | None = None
    # Platform mode, read from the platform (webhook, delta pass): the version keys of the record
    # the change was read from. A change read from an older version than the one stored is stale
    # (a late notification): it changes nothing.
    source_version: dict[str, Any] | None = None
    request: dict[str, Any] = Field(default_factory=dict, description="the API request, for the record")
    idempotency_key: str | None = None
    # Live mode: write even over a remote change (resolves a conflict the caller has looked at).
    overwrite: bool = False
    # Live mode: how long the first pass waits before reporting unfinished writes as `pending`.
    response_window_seconds: float = 10.0
    # Deprecated: versions are workflow.patched() markers now (workflows/propagate.py). Kept so the
    # inputs of workflows started before the patch replay their command sequence: absent (1) means
    # record_outcome as an activity, 2 as a local activity. New inputs still say 2, for workers of
    # the code before the patch during a rolling deploy; drop it with the patch's deprecation.
    workflow_revision: int = 1


class CanonicalUpdateResult(BaseModel):
    version: int
    updated_fields: list[str]
    data: dict[str, Any]
    targets: list[str] = Field(description="platforms to fan out to (mapped, connected, not the source)")
    modes: dict[str, str] = Field(default_factory=dict, description="connection mode per target platform")
    target_ids: dict[str, str] = Field(default_factory=dict, description="each target's record id there")
    #: Targets whose last outcome was conflict or failed, when the change is an ``overwrite`` that
    #: changes nothing in canonical: they get the current values written over theirs.
    unsettled: list[str] = Field(default_factory=list)


class MirrorInput(BaseModel):
    propagation_id: str
    customer_id: str
    platform: str
    platform_id: str
    entity_type: str
    native_patch: dict[str, Any]
    version: int
    # The version keys the change was read at (PropagateInput.source_version): a stale read mirrors nothing.
    source_version: dict[str, Any] | None = None


class MirrorResult(BaseModel):
    applied: bool


class FanOutInput(BaseModel):
    propagation_id: str
    customer_id: str
    canonical_id: str
    entity_type: str
    platform: str
    version: int
    overwrite: bool = False
    #: Where the change came from (None: the API) and when, by that platform's clock (the API: when
    #: the propagation started): what a ``latest`` rule compares with the target's own change.
    source_platform: str | None = None
    source_stamp: str | None = None


class Reference(BaseModel):
    field: str
    canonical_id: str | None = None
    platform_id: str | None = None
    injected: bool | None = None
    reason: str | None = None
    platform: str | None = None


class FanOutResult(BaseModel):
    platform: str
    status: TargetStatus
    platform_id: str | None = None
    # Native records travel as JSON text: Business Central amounts are exact decimals that must
    # come out as JSON numbers, which a JSON payload converter would turn into strings.
    data: str | None = None
    canonical_view: dict[str, Any] | None = None
    error: str | None = None
    conflict_data: str | None = None
    #: A conflict: the canonical fields on which the platform's record differs from what we meant to
    #: write (``canonical_view`` is then the platform record's canonical view).
    conflict_fields: list[str] = Field(default_factory=list)
    #: A rule gave the target's change the win: its record is read and applied everywhere (the
    #: workflow follows it as a platform change).
    follow_remote: bool = False
    resolved: list[Reference] = Field(default_factory=list)
    unresolved: list[Reference] = Field(default_factory=list)
    # True when a newer propagation had already brought the platform past this version.
    superseded: bool = False
    live: bool = False


class RecordOutcomeInput(BaseModel):
    propagation_id: str
    status: str
    outcomes: list[FanOutResult]
    response: dict[str, Any]
    #: Live platforms this pass synced (their open conflicts of the object are settled), and whether
    #: any live platform took part (then the source's open conflict is settled too).
    settled: list[str] = Field(default_factory=list)
    live: bool = False


class RecordOutcomeResult(BaseModel):
    recorded: bool = True


class PropagateResponse(BaseModel):
    """The API's `data` for POST /propagate (see the seed's PropagationResult)."""

    propagation_id: str
    canonical: dict[str, Any]
    propagated: dict[str, dict[str, Any]]
    references: dict[str, list[dict[str, Any]]]
    status: str
    failed: dict[str, str] = Field(default_factory=dict)


class RetryRequest(BaseModel):
    requested_by: str = "api"


class PropagationStatus(BaseModel):
    phase: str
    outcome: str | None
    targets: dict[str, TargetStatus]
    attempts: int
