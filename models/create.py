"""Workflow payloads of creates: a record that appeared on one platform reaching the others."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class CreateInput(BaseModel):
    """Link or create one canonical object on every connected platform it has no record on."""

    customer_id: str
    canonical_id: str
    source_platform: str | None = None  # where it appeared (None: created through the API)
    # POST /objects: the object to store first (validated by the API), the platforms asked for
    # (None: every connected one) and the request's Idempotency-Key and hash, kept on the record.
    entity_type: str | None = None
    data: dict[str, Any] | None = None
    platforms: list[str] | None = None
    idempotency_key: str | None = None
    request: dict[str, Any] | None = None


class TargetPlan(BaseModel):
    platform: str
    mode: str
    missing_parents: list[str]  # referenced canonical objects not on this platform yet


class CreatePlan(BaseModel):
    entity_type: str
    version: int = 0
    data: dict[str, Any] = {}
    targets: list[TargetPlan]


class CreateTargetResult(BaseModel):
    platform: str
    status: Literal["synced", "failed"]
    platform_id: str | None = None
    # existing: mapped already; found: a record with our marker or its business key was linked;
    # created: POSTed by this create
    how: Literal["existing", "found", "created"] | None = None
    error: str | None = None
    data: str | None = None  # the platform's record (exact JSON text), as the create answered
    canonical_view: dict[str, Any] | None = None  # that record read back as canonical
    live: bool = True
