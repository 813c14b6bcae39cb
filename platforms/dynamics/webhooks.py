"""Business Central webhook deliveries (API v2.0 subscriptions).

BC first checks a subscription with a `validationToken` handshake (echoed as text/plain), then posts
batches `{"value": [{subscriptionId, clientState, resource, changeType, lastModifiedDateTime}]}`. It
cannot send headers, so each notification's `clientState` carries the credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from platforms.descriptor import WebhookDelivery, WebhookEvent, Webhooks, WebhookShapeError

# BC entity sets -> canonical entity types.
ENTITY_SETS: Final = {
    "projects": "project",
    "customers": "customer",
    "salesOrders": "contract",
    "salesInvoices": "invoice",
    "customerPayments": "payment",
}
# `.../companies(<id>)/salesInvoices(<id>)`; a collection notification names the entity set alone.
RESOURCE: Final = re.compile(r"(\w+)(?:\(([0-9a-fA-F-]{36})\))?\s*$")


def handshake(query: Mapping[str, str]) -> str | None:
    return query.get("validationToken")


def parse(body: Any, header_key: str | None) -> WebhookDelivery:
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise WebhookShapeError('expected a Business Central notification batch {"value": [...]}')
    events = []
    for note in body["value"]:
        if not isinstance(note, dict) or note.get("changeType") not in ("created", "updated", "deleted", "collection"):
            continue
        change = note["changeType"]
        match = RESOURCE.search(str(note.get("resource", "")))
        if match is None or match.group(1) not in ENTITY_SETS or (change != "collection") != bool(match.group(2)):
            continue
        delivery = "|".join(
            str(note.get(k)) for k in ("subscriptionId", "resource", "changeType", "lastModifiedDateTime")
        )
        state = note.get("clientState")
        key = header_key or (state if isinstance(state, str) else None)
        # `collection`: more than 1,000 changes in 30 seconds, sent without ids (the catch-up reads them).
        collection = change == "collection"
        events.append(WebhookEvent(key, ENTITY_SETS[match.group(1)], match.group(2) or "", delivery, collection))
    return WebhookDelivery(events=events, received=len(body["value"]))


# BC deletes a subscription whose notification is answered with anything but 2xx, 408, 429 or 5xx
# ("Working with webhooks in Dynamics 365 Business Central").
WEBHOOKS: Final = Webhooks(parse=parse, handshake=handshake, acknowledge_unusable=True)
