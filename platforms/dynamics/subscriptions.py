"""The engine's own Business Central webhook subscriptions: one per synced entity set
(`POST /api/v2.0/subscriptions` {notificationUrl, resource, clientState}; "Working with webhooks
in Dynamics 365 Business Central").

BC checks each new or renewed subscription by calling the notificationUrl with a
`validationToken` (our intake echoes it), lets it expire after three days, and deletes it when a
notification is refused. So every check renews what expires within a day, re-creates what is
missing and repairs a subscription that lost our secret (clientState); ours are those whose
notificationUrl is the destination.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from canonical.jsonio import dumps, loads
from platforms.descriptor import Destination, SubscriptionState
from platforms.http import RejectedError

if TYPE_CHECKING:
    from platforms.dynamics.client import DynamicsClient

# Renewed when it expires within this long: a check runs hourly by default, a day leaves room for
# a day of missed checks (worker down, BC unavailable).
RENEW_WITHIN: Final = timedelta(days=1)


def _expires_within(subscription: Mapping[str, Any], window: timedelta, now: datetime) -> bool:
    text = str(subscription.get("expirationDateTime") or "")
    try:
        expires = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return True  # unreadable: renewing is harmless
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires - now <= window


async def _ours(client: DynamicsClient, destination: Destination) -> list[dict[str, Any]]:
    resp = await client.request("GET", client.subscriptions_url)
    client.raise_for(resp)
    body = loads(resp.text)
    rows = body.get("value") if isinstance(body, dict) else None
    return [s for s in rows or () if isinstance(s, dict) and s.get("notificationUrl") == destination.url]


def _state(subscription: Mapping[str, Any], resource: str, now: datetime) -> SubscriptionState:
    expiring = _expires_within(subscription, RENEW_WITHIN, now)
    return SubscriptionState(
        resource=resource,
        status="expiring" if expiring else "active",
        id=str(subscription.get("subscriptionId")),
        expires_at=str(subscription.get("expirationDateTime") or "") or None,
    )


async def subscribe(client: DynamicsClient, destination: Destination) -> list[SubscriptionState]:
    now = datetime.now(UTC)
    wanted = client.subscription_resources()
    existing = {str(s.get("resource")): s for s in await _ours(client, destination)}
    states = []
    for resource in wanted:
        current = existing.pop(resource, None)
        body = {"notificationUrl": destination.url, "resource": resource, "clientState": destination.secret}
        try:
            if current is None:
                resp = await client.request(
                    "POST", client.subscriptions_url, headers={"Content-Type": "application/json"}, content=dumps(body)
                )
            elif _expires_within(current, RENEW_WITHIN, now) or current.get("clientState") != destination.secret:
                # A PATCH renews (BC re-validates the URL and moves the expiry three days out).
                resp = await client.request(
                    "PATCH",
                    client.subscription_url(str(current["subscriptionId"])),
                    headers={
                        "Content-Type": "application/json",
                        "If-Match": str(current.get("@odata.etag") or "*"),
                    },
                    content=dumps({"notificationUrl": destination.url, "clientState": destination.secret}),
                )
            else:
                states.append(_state(current, resource, now))
                continue
            client.raise_for(resp)
        except RejectedError as err:  # e.g. the handshake failed: the URL is not reachable from BC
            states.append(SubscriptionState(resource=resource, status="refused", detail=err.message))
            continue
        states.append(_state(loads(resp.text), resource, now))
    for stale in existing.values():  # ours, for a resource no longer synced
        await _delete(client, stale)
    return states


async def _delete(client: DynamicsClient, subscription: Mapping[str, Any]) -> None:
    resp = await client.request(
        "DELETE",
        client.subscription_url(str(subscription["subscriptionId"])),
        headers={"If-Match": str(subscription.get("@odata.etag") or "*")},
    )
    if resp.status_code != 404:  # gone already (expired meanwhile) is what we wanted
        client.raise_for(resp)


async def unsubscribe(client: DynamicsClient, destination: Destination) -> int:
    found = await _ours(client, destination)
    for subscription in found:
        await _delete(client, subscription)
    return len(found)
