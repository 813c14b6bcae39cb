"""The event types, each with what its ``data`` holds (the README's table, the API's validation of
an endpoint's ``event_types``)."""

from __future__ import annotations

from typing import Final, Literal, get_args

#: Every event type (the API's enum); ``EVENT_TYPES`` says what each one's data holds.
EventType = Literal[
    "connect.completed",
    "connect.failed",
    "propagation.synced",
    "propagation.partial",
    "propagation.conflict",
    "propagation.failed",
    "record.created",
    "record.deleted",
    "conflict.opened",
    "conflict.resolved",
    "sync.paused",
    "sync.resumed",
    "sync.lagging",
    "verify.completed",
    "webhook_endpoint.disabled",
]

EVENT_TYPES: Final[dict[str, str]] = {
    "connect.completed": "A connect finished: platform, mode, entities seeded per type.",
    "connect.failed": "A connect failed: platform, error.",
    "propagation.synced": "A change reached every platform: the propagation's id, object, fields, platforms.",
    "propagation.partial": "A change reached some platforms; the others failed (replayable) or were refused.",
    "propagation.conflict": "A change was not written to a platform that changed the same fields (see conflicts).",
    "propagation.failed": "A change reached no platform.",
    "record.created": "A new record (on a platform, or POST /objects): its canonical object and where it now is.",
    "record.deleted": "A canonical object was deleted (tombstone): by whom, and what each platform did.",
    "conflict.opened": "A conflict opened: object, platform, fields.",
    "conflict.resolved": "A conflict was resolved: how, by whom, the propagation carrying it out.",
    "sync.paused": "A live connection's automatic sync was paused.",
    "sync.resumed": "A live connection's automatic sync was resumed.",
    "sync.lagging": "A delta pass completed long after the one before: how far behind sync was.",
    "verify.completed": "A verify (drift report) finished: counts per entity type.",
    "webhook_endpoint.disabled": "An endpoint kept failing and was disabled: endpoint id, url, reason.",
}


def propagation_event(status: str) -> str | None:
    """The event type of a propagation's outcome (None: not an outcome, e.g. still pending)."""
    name = f"propagation.{status}"
    return name if name in EVENT_TYPES else None


assert set(get_args(EventType)) == set(EVENT_TYPES), "EventType and EVENT_TYPES name the same types"
