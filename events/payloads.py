"""The ``data`` of each event type, built from what the state change recorded (pure functions), and
the keys that make an event's id stable (the same change reported twice is one event)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from canonical.jsonio import dumps_text


def fingerprint(value: Any) -> str:
    """A short stable digest of a JSON value: an outcome's key (a replay with a new outcome is a new
    event; the same outcome recorded again by a retried activity is not)."""
    return hashlib.sha256(dumps_text(value).encode()).hexdigest()[:16]


def propagation(propagation_id: str, result: Mapping[str, Any], *, kind: str = "update") -> dict[str, Any]:
    """A propagation's outcome (``result``: the propagate result shape)."""
    canonical = result.get("canonical") or {}
    platforms = {
        name: {
            "platform_id": entry.get("platform_id"),
            "status": entry.get("writeStatus"),
            **({"error": entry["writeError"]} if entry.get("writeError") else {}),
        }
        for name, entry in sorted((result.get("propagated") or {}).items())
    }
    return {
        "propagation_id": propagation_id,
        "kind": kind,
        "status": result.get("status"),
        "canonical_id": canonical.get("id"),
        "entity_type": canonical.get("entity_type"),
        "updated_fields": canonical.get("updated_fields") or [],
        "platforms": platforms,
    }


def record_created(propagation_id: str, result: Mapping[str, Any], source_platform: str | None) -> dict[str, Any]:
    body = propagation(propagation_id, result, kind="create")
    return {**body, "source_platform": source_platform or "api", "data": (result.get("canonical") or {}).get("data")}


def record_deleted(propagation_id: str, result: Mapping[str, Any], source_platform: str | None) -> dict[str, Any]:
    body = propagation(propagation_id, result, kind="delete")
    deleted = (result.get("canonical") or {}).get("deleted") or {}
    return {
        **body,
        "source_platform": source_platform or "api",
        "deleted_at": deleted.get("at"),
        "deleted_by": deleted.get("by"),
    }


def conflict(conflict_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "conflict_id": conflict_id,
        "canonical_id": row.get("canonical_id"),
        "entity_type": row.get("entity_type"),
        "platform": row.get("platform"),
        "platform_id": row.get("platform_id"),
        "fields": list(row.get("fields") or []),
        "propagation_id": row.get("propagation_id"),
    }
