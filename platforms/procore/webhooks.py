"""Procore webhook deliveries: thin unsigned events, in the payload version the hook was made with
(procore/documentation, `webhooks/payload_formats.md`):

- v2.0: ``id`` (int), ``ulid``, ``event_type`` (create / update / delete), ``resource_name``,
  ``resource_id`` (int), ``company_id`` / ``project_id`` (ints);
- v3.0: as v2.0, plus ``related_resources`` ([{id, name}]): a line item names its contract;
- v4.0: ``id`` (a ULID string), ``reason`` (create / update / delete and richer reasons),
  ``resource_type``, ``resource_id`` and every other id as strings.

Procore signs nothing, so the credential is the destination header the hook was configured with
(`Authorization: Bearer ...`). A delete names the record like any change; reading it fresh (404)
confirms the deletion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from platforms.descriptor import WebhookDelivery, WebhookEvent, Webhooks, WebhookShapeError

# Procore resource names (as in its webhook events and triggers, lower case) -> canonical entity types.
RESOURCES: Final = {
    "projects": "project",
    "company vendors": "customer",  # the company directory's vendors (a company-level trigger)
    "vendors": "customer",
    "work order contracts": "contract",
    "purchase order contracts": "contract",
    "commitments": "contract",
    "requisitions": "invoice",
    "subcontractor invoices": "invoice",
    "contract payments": "payment",
    "payments": "payment",
}
# Line items change their parent's computed totals: the event is about the parent (v3.0 and later
# name it in related_resources).
LINE_ITEMS: Final = " line items"


def _name(value: Any) -> str:
    return str(value or "").strip().lower().replace("_", " ")


def _subject(body: Mapping[str, Any], name: str) -> tuple[str, str] | None:
    """The synced record the event is about: (entity type, platform id), or None."""
    entity = RESOURCES.get(name)
    if entity is not None:
        return entity, str(body["resource_id"])
    if name.endswith(LINE_ITEMS):
        for related in body.get("related_resources") or ():
            parent = RESOURCES.get(_name(related.get("name"))) if isinstance(related, Mapping) else None
            if parent is not None and related.get("id") is not None:
                return parent, str(related["id"])
    return None


def parse(body: Any, header_key: str | None) -> WebhookDelivery:
    if not isinstance(body, dict) or "resource_id" not in body:
        raise WebhookShapeError("expected a Procore event with resource_name (or resource_type) and resource_id")
    name = body.get("resource_name", body.get("resource_type"))
    if name is None:
        raise WebhookShapeError("expected a Procore event with resource_name (or resource_type) and resource_id")
    subject = _subject(body, _name(name))
    events = []
    # A delete is followed like any change: the record is read fresh, and a 404 is the deletion.
    if subject is not None:
        entity, platform_id = subject
        # v2/v3 events carry a ULID beside their integer id; a v4 event's id is the ULID.
        delivery = str(body.get("ulid") or body.get("id") or f"{body['resource_id']}|{body.get('timestamp')}")
        events.append(WebhookEvent(header_key, entity, platform_id, delivery))
    return WebhookDelivery(events=events, received=1)


WEBHOOKS: Final = Webhooks(parse=parse, requires_header_key=True)
