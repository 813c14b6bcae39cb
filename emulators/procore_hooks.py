"""Procore webhooks in the emulator: hooks, triggers, the events a change raises, and how their
deliveries are retried (procore/documentation ``plan_your_app/webhooks.md`` and ``webhooks_api.md``;
endpoint schemas ``platforms/procore/schemas/RestV10Webhooks*.json``).

The state and rules live here; the HTTP routes are in ``emulators/procore.py``.

- A hook belongs to a company or to one project; a company hook hears every project of the
  company, a project hook only its project (company-level resources such as Company Vendors have
  no project and reach company hooks only).
- A trigger names a resource as Procore prints it ("Contract Payments") and an event type.
- Every applied write raises one event per matching trigger, in the hook's payload version
  (v2.0, v3.0 with ``related_resources``, v4.0 with string ids and ``reason``).
- Deliveries are at least once: a hook's queue pauses on a failure (non-2xx, timeout, no
  connection) and retries its head with exponential backoff from 1 s up to 1 h; after 12 hours of
  failing the queue is flushed and its events are discarded; a success resets the counters.
"""

from __future__ import annotations

import itertools
import re
import secrets
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import Field

from emulators.delivery import Answer, Delivery, Lane, Outbox, Verdict, WebhookSettings, masked

#: Payload versions a hook takes, as Procore's docs spell them ("v2" in the API guide's examples,
#: "v2.0" in the payload reference) -> the version the events carry.
PAYLOAD_VERSIONS: Final = {"v2": "v2.0", "v2.0": "v2.0", "v3": "v3.0", "v3.0": "v3.0", "v4": "v4.0", "v4.0": "v4.0"}
#: "Allowed characters: lowercase a-z, digits 0-9, and dashes" (webhooks_api.md, Namespaces).
NAMESPACE: Final = re.compile(r"[a-z0-9-]+")
EVENT_TYPES: Final = ("create", "update", "delete")
#: The resources a trigger may name here, as Procore prints them, and whether only a company-level
#: hook can have them (the company directory's vendors carry no project). These are the resources
#: the emulator serves and so can raise events for (the engine's ``platforms/procore/webhooks.py``
#: RESOURCES, title-cased).
TRIGGER_RESOURCES: Final[Mapping[str, bool]] = {
    "Projects": False,
    "Company Vendors": True,
    "Work Order Contracts": False,
    "Purchase Order Contracts": False,
    "Requisitions": False,
    "Contract Payments": False,
}
#: The Procore tool each resource belongs to (``GET /rest/v1.0/webhooks/resources``).
_CATEGORIES: Final = {
    "Projects": ("Company Admin", "Projects"),
    "Company Vendors": ("Company Admin", "Directory"),
    "Work Order Contracts": ("Financial Management", "Commitments"),
    "Purchase Order Contracts": ("Financial Management", "Commitments"),
    "Requisitions": ("Financial Management", "Commitments"),
    "Contract Payments": ("Financial Management", "Commitments"),
}
#: The person behind an out-of-band edit (a user in Procore's web UI; no application).
UI_USER_ID: Final = 2718281
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class ProcoreWebhookSettings(WebhookSettings):
    """``webhooks`` in the Procore emulator's settings (``PATCH /_control/settings``)."""

    timeout_seconds: float = Field(5.0, gt=0, description="Procore waits 5 s for a receiver's answer")
    backoff_initial_seconds: float = Field(
        1.0, gt=0, description="first retry delay (Procore: 1 s); doubles per failure. Lower it in tests"
    )
    backoff_max_seconds: float = Field(3600.0, gt=0, description="longest retry delay (Procore: 1 hour)")
    discard_after_seconds: float = Field(
        43200.0, gt=0, description="emulator seconds of failing after which a hook's queue is discarded (12 h)"
    )


@dataclass
class Hook:
    id: int
    company_id: int | None  # owner: a company ...
    project_id: int | None  # ... or one project
    user_id: int
    namespace: str
    api_version: str
    destination_url: str
    destination_headers: dict[str, str]

    def hears(self, project_id: int | None) -> bool:
        """Whether an event of ``project_id`` (None: company level) reaches this hook."""
        return self.project_id is None or self.project_id == project_id

    def shown(self) -> dict[str, Any]:
        """The hook as Procore returns it: the Authorization header masked to its last 5 characters."""
        headers = {k: masked(v) if k.lower() == "authorization" else v for k, v in self.destination_headers.items()}
        return {
            "id": self.id,
            "api_version": self.api_version,
            "destination_headers": headers,
            "destination_url": self.destination_url,
            "owned_by_company_id": self.company_id,
            "owned_by_project_id": self.project_id,
            "owned_by_user_id": self.user_id,
            "namespace": self.namespace,
        }


@dataclass
class Trigger:
    id: int
    hook_id: int
    resource_name: str
    event_type: str  # lower case, as requests and events spell it
    company_id: int | None
    project_id: int | None
    user_id: int

    def shown(self, event_types: tuple[str, ...]) -> dict[str, Any]:
        # The published trigger schema spells event_type as its enum does (CREATE, UPDATE, DELETE).
        spelled = next((e for e in event_types if e.lower() == self.event_type), self.event_type)
        return {
            "id": self.id,
            "webhook_hook_id": self.hook_id,
            "resource_name": self.resource_name,
            "resource_id": None,
            "event_type": spelled,
            "company_id": self.company_id,
            "project_id": self.project_id,
            "user_id": self.user_id,
        }


@dataclass(frozen=True)
class Event:
    """One Procore event, before it is written in a hook's payload version."""

    id: int
    ulid: str
    timestamp: str
    user_id: int
    company_id: int
    project_id: int | None
    resource_name: str
    resource_id: int
    event_type: str
    application_id: str | None  # the OAuth client of an API write; None for a person's edit

    def payload(self, version: str) -> dict[str, Any]:
        if version == "v4.0":
            # All ids are strings, event_type is `reason`, resource_name is `resource_type`.
            return {
                "id": self.ulid,
                "timestamp": self.timestamp,
                "reason": self.event_type,
                "company_id": str(self.company_id),
                "project_id": None if self.project_id is None else str(self.project_id),
                "user_id": str(self.user_id),
                "resource_type": self.resource_name,
                "resource_id": str(self.resource_id),
            }
        body: dict[str, Any] = {
            "id": self.id,
            "ulid": self.ulid,
            "timestamp": self.timestamp,
            "metadata": {
                "source_user_id": self.user_id,
                "source_project_id": self.project_id,
                "source_operation_id": None,
                "source_company_id": self.company_id,
                "source_application_id": self.application_id,
            },
            "user_id": self.user_id,
            "company_id": self.company_id,
            "project_id": self.project_id,
            "api_version": version,
            "event_type": self.event_type,
            "resource_name": self.resource_name,
            "resource_id": self.resource_id,
        }
        if version == "v3.0":
            body["related_resources"] = []  # only line items name a parent; none are emulated
        return body


def ulid(moment: float) -> str:
    """A ULID: 48 bits of milliseconds and 80 random bits, Crockford base32, 26 characters."""
    value = (int(moment * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def service_user_id(client_id: str) -> int:
    """The Procore user a DMSA app acts as (stable per client id)."""
    return 5_000_000 + zlib.crc32(client_id.encode()) % 1_000_000


def resource_of(entity_type: str, record: Mapping[str, Any]) -> str | None:
    """The Procore resource name whose triggers a change of this record fires."""
    if entity_type == "contract":
        kind = record.get("type")
        return {"WorkOrderContract": "Work Order Contracts", "PurchaseOrderContract": "Purchase Order Contracts"}.get(
            str(kind)
        )
    return {
        "project": "Projects",
        "customer": "Company Vendors",
        "invoice": "Requisitions",
        "payment": "Contract Payments",
    }.get(entity_type)


def resources_listing(company_level: bool) -> list[dict[str, Any]]:
    """``GET /rest/v1.0/webhooks/resources`` for a company (or a project) scope."""
    return [
        {
            "api_version": "v2.0",
            "product_category": _CATEGORIES[name][0],
            "tools": _CATEGORIES[name][1],
            "except": [],
            "create": f"{name} Create",
            "update": f"{name} Update",
            "delete": f"{name} Delete",
        }
        for name, company_only in TRIGGER_RESOURCES.items()
        if company_level or not company_only
    ]


@dataclass
class Hooks:
    """The emulator's hooks and triggers, and the events they are owed."""

    outbox: Outbox
    settings: Callable[[], ProcoreWebhookSettings]
    now: Callable[[], float]
    hooks: dict[int, Hook] = field(default_factory=dict)
    triggers: dict[int, Trigger] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _events: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def clear(self) -> None:
        self.hooks.clear()
        self.triggers.clear()
        # Ids look like Procore's (large, never reused within an instance's life).
        self._ids = itertools.count(41_000)
        self._events = itertools.count(900_000_001)

    def next_id(self) -> int:
        return next(self._ids)

    def lane(self, hook_id: int) -> str:
        return f"hook:{hook_id}"

    def delete(self, hook_id: int) -> None:
        self.hooks.pop(hook_id, None)
        for trigger_id in [t.id for t in self.triggers.values() if t.hook_id == hook_id]:
            del self.triggers[trigger_id]
        # Events owed to a deleted hook are never sent (the one in flight finishes unlogged).
        self.outbox.clear_lane(self.lane(hook_id), None)

    def of_hook(self, hook_id: int) -> list[Trigger]:
        return sorted((t for t in self.triggers.values() if t.hook_id == hook_id), key=lambda t: t.id)

    def announce(
        self,
        *,
        resource_name: str,
        resource_id: int,
        company_id: int,
        project_id: int | None,
        event_type: str,
        user_id: int,
        application_id: str | None,
    ) -> None:
        """Queue one event per trigger that matches this change, in its hook's payload version."""
        stamp = self.now()
        for trigger in sorted(self.triggers.values(), key=lambda t: t.id):
            hook = self.hooks.get(trigger.hook_id)
            if (
                hook is None
                or trigger.resource_name != resource_name
                or trigger.event_type != event_type
                or not hook.hears(project_id)
            ):
                continue
            event = Event(
                id=next(self._events),
                ulid=ulid(stamp),
                timestamp=_microseconds(stamp),
                user_id=user_id,
                company_id=company_id,
                project_id=project_id,
                resource_name=resource_name,
                resource_id=resource_id,
                event_type=event_type,
                application_id=application_id,
            )
            self.outbox.enqueue(
                "event",
                self.lane(hook.id),
                hook.destination_url,
                hook.destination_headers,
                event.payload(hook.api_version),
                {"hook_id": hook.id, "trigger_id": trigger.id, "event_id": event.id},
            )

    # -- the delivery policy (emulators.delivery.DeliveryPolicy)

    def timeout_seconds(self, delivery: Delivery) -> float:
        return self.settings().timeout_seconds

    def prepare(self, delivery: Delivery) -> bool:
        hook = self.hooks.get(delivery.context["hook_id"])
        if hook is None:
            return False
        # Each attempt goes where the hook points now: a PATCHed URL or rotated token applies to
        # events already queued.
        delivery.url, delivery.headers = hook.destination_url, dict(hook.destination_headers)
        return True

    def settle(self, lane: Lane, delivery: Delivery, answer: Answer) -> Verdict:
        now = self.now()
        if answer.status is not None and 200 <= answer.status < 300:
            lane.failing_since, lane.failures = None, 0
            return Verdict("delivered")
        settings = self.settings()
        if lane.failing_since is None:
            lane.failing_since = now
        lane.failures += 1
        if now - lane.failing_since >= settings.discard_after_seconds:
            lane.failing_since, lane.failures = None, 0
            self.outbox.clear_lane(lane.key, "discarded")
            return Verdict("discarded")
        backoff = settings.backoff_initial_seconds * 2 ** min(lane.failures - 1, 40)
        return Verdict("retrying", now + min(settings.backoff_max_seconds, backoff))


def _microseconds(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: Procore's deliveries endpoint speaks of outcomes in its own words.
DELIVERY_OUTCOMES: Final = {"delivered": "ok", "retrying": "retried", "failed": "failed", "discarded": "discarded"}
#: ``filters[status]`` of the deliveries endpoint -> the outcomes it keeps.
STATUS_FILTERS: Final = {
    "any": ("ok", "retried", "failed", "discarded"),
    "successful": ("ok",),
    "failing": ("retried", "failed"),
    "discarded": ("discarded",),
}


def delivery_row(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A log line as Procore's deliveries endpoint shows it (None: a delivery Procore never made)."""
    outcome = DELIVERY_OUTCOMES.get(record["outcome"])
    if outcome is None:
        return None
    return {
        "event": record["body"],
        "event_id": record["context"].get("event_id"),
        "outcome": outcome,
        "response_body": record["response_body"],
        "response_error": record["error"],
        "started_at": record["started_at"],
        "completed_at": record["completed_at"],
        "response_status": record["status"],
        "response_headers": record["response_headers"],
    }
