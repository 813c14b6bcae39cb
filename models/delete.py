"""Workflow payloads of deletes: a canonical object deleted on a platform or through the API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

#: What a connection does with a delete that happened elsewhere: ``tombstone_only`` (default:
#: nothing is deleted on it, the propagation records it) or ``propagate`` (deleted where the platform
#: allows it; otherwise recorded ``refused`` with the platform's reason, never forced).
DeletePolicy = Literal["tombstone_only", "propagate"]
DEFAULT_DELETE_POLICY: DeletePolicy = "tombstone_only"


class DeleteInput(BaseModel):
    customer_id: str
    canonical_id: str
    #: Where it was deleted (None: DELETE /objects) and its id there.
    source_platform: str | None = None
    source_platform_id: str | None = None
    #: Who, for the tombstone: the platform's name, or ``api`` (with the key's prefix when known).
    deleted_by: str = "api"


class DeleteTarget(BaseModel):
    platform: str
    mode: str  # live | sandbox
    platform_id: str
    policy: DeletePolicy


class DeletePlan(BaseModel):
    """The tombstone as stored, and the platforms still holding a record of the object."""

    entity_type: str  # "" when the object does not exist
    version: int = 0
    deleted_at: str | None = None
    deleted_by: str | None = None
    data: dict[str, Any] = {}
    targets: list[DeleteTarget] = []


class DeleteTargetResult(BaseModel):
    platform: str
    #: deleted: gone there (or gone already); kept: left by the tombstone_only policy; refused: the
    #: platform would not delete it (its reason in ``error``); failed: not reachable in time.
    status: Literal["deleted", "kept", "refused", "failed"]
    platform_id: str | None = None
    error: str | None = None
    live: bool = True
