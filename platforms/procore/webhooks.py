"""Procore webhook deliveries: thin unsigned events (`resource_name`, `resource_id`, `event_type`, `ulid`).

Procore signs nothing, so the credential is the destination header the hook was configured with
(`Authorization: Bearer ...`). Deletes are acknowledged and not acted on (yet).
"""

from __future__ import annotations

from typing import Any, Final

from platforms.descriptor import WebhookDelivery, WebhookEvent, Webhooks, WebhookShapeError

# Procore resource names (as in its webhook events) -> canonical entity types.
RESOURCES: Final = {
    "projects": "project",
    "vendors": "customer",
    "work order contracts": "contract",
    "purchase order contracts": "contract",
    "commitments": "contract",
    "requisitions": "invoice",
    "subcontractor invoices": "invoice",
    "contract payments": "payment",
    "payments": "payment",
}


def parse(body: Any, header_key: str | None) -> WebhookDelivery:
    if not isinstance(body, dict) or "resource_id" not in body or "resource_name" not in body:
        raise WebhookShapeError("expected a Procore event with resource_name and resource_id")
    events = []
    entity = RESOURCES.get(str(body["resource_name"]).strip().lower().replace("_", " "))
    if entity is not None and body.get("event_type") != "delete":
        delivery = str(body.get("ulid") or body.get("id") or f"{body['resource_id']}|{body.get('timestamp')}")
        events.append(WebhookEvent(header_key, entity, str(body["resource_id"]), delivery))
    return WebhookDelivery(events=events, received=1)


WEBHOOKS: Final = Webhooks(parse=parse, requires_header_key=True)
