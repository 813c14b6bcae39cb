"""The engine's own Procore webhook: one company-scoped hook with a trigger per synced resource
and event (procore/documentation, `plan_your_app/webhooks_api.md`; endpoint schemas
`RestV10WebhooksHooks*`).

The hook is recognised by its namespace (one per connection) and its destination URL; Procore
masks the destination's Authorization header to its last five characters, which is enough to tell
whether it still carries the connection's secret. Procore's hooks do not expire: what goes wrong
is a hook or trigger deleted by someone, which the next check puts back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from canonical.jsonio import loads
from platforms.descriptor import Destination, SubscriptionState
from platforms.http import RejectedError

if TYPE_CHECKING:
    from platforms.procore.client import ProcoreClient

HOOKS: Final = "/rest/v1.0/webhooks/hooks"
# The payload format of our hook: v4.0 ids are strings, its events name the resource and reason
# (platforms/procore/webhooks.py reads v2.0 to v4.0).
API_VERSION: Final = "v4.0"
# Procore's webhook resource names of what we sync (company vendors are a company-level resource).
RESOURCES: Final = (
    "Projects",
    "Company Vendors",
    "Work Order Contracts",
    "Purchase Order Contracts",
    "Requisitions",
    "Contract Payments",
)
EVENTS: Final = ("create", "update", "delete")
MASKED: Final = 5  # characters of the Authorization header Procore shows back


def _list(body: str) -> list[dict[str, Any]]:
    value = loads(body)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ours(hook: Mapping[str, Any], destination: Destination) -> bool:
    return hook.get("namespace") == destination.namespace and hook.get("destination_url") == destination.url


def _header(destination: Destination) -> dict[str, str]:
    return {"Authorization": f"Bearer {destination.secret}"}


def _carries_secret(hook: Mapping[str, Any], destination: Destination) -> bool:
    shown = str((hook.get("destination_headers") or {}).get("Authorization") or "")
    return shown[-MASKED:] == destination.secret[-MASKED:]


async def _hooks(client: ProcoreClient) -> list[dict[str, Any]]:
    resp = await client.request("GET", HOOKS, params={"company_id": client.company_id})
    return _list(resp.text)


async def subscribe(client: ProcoreClient, destination: Destination) -> list[SubscriptionState]:
    company = client.company_id
    hook = next((h for h in await _hooks(client) if _ours(h, destination)), None)
    body = {
        "api_version": API_VERSION,
        "namespace": destination.namespace,
        "destination_url": destination.url,
        "destination_headers": _header(destination),
    }
    if hook is None:
        resp = await client.request("POST", HOOKS, json_body={"company_id": company, "hook": body})
        hook = loads(resp.text)
    elif not _carries_secret(hook, destination) or hook.get("api_version") != API_VERSION:
        resp = await client.request("PATCH", f"{HOOKS}/{hook['id']}", json_body={"company_id": company, "hook": body})
        hook = loads(resp.text)
    hook_id = str(hook["id"])
    triggers = f"{HOOKS}/{hook_id}/triggers"
    resp = await client.request("GET", triggers, params={"company_id": company})
    # Procore prints event types as its schema's enum spells them (``UPDATE``); we ask in lower case.
    existing = {(str(t.get("resource_name")), str(t.get("event_type")).lower()): t for t in _list(resp.text)}
    states = []
    for resource in RESOURCES:
        for event in EVENTS:
            found = existing.get((resource, event))
            if found is None:
                try:
                    resp = await client.request(
                        "POST",
                        triggers,
                        json_body={
                            "company_id": company,
                            "api_version": API_VERSION,
                            "trigger": {"resource_name": resource, "event_type": event},
                        },
                    )
                except RejectedError as err:  # e.g. a resource this company's Procore does not offer
                    states.append(
                        SubscriptionState(resource=f"{resource} {event}", status="refused", detail=err.message)
                    )
                    continue
                found = loads(resp.text)
            states.append(
                SubscriptionState(resource=f"{resource} {event}", status="active", id=f"{hook_id}/{found.get('id')}")
            )
    return states


async def unsubscribe(client: ProcoreClient, destination: Destination) -> int:
    """Delete our hook (its triggers go with it)."""
    removed = 0
    for hook in await _hooks(client):
        if _ours(hook, destination):
            await client.request("DELETE", f"{HOOKS}/{hook['id']}", params={"company_id": client.company_id})
            removed += 1
    return removed
