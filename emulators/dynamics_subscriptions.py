"""Business Central webhook subscriptions in the emulator: their lifetime, the batching of change
notifications and how BC answers a receiver's response (Microsoft Learn "Working with webhooks in
Dynamics 365 Business Central", ``dev-itpro/api-reference/v2.0/dynamics-subscriptions.md``; the
server settings ``ApiSubscription*`` in ``server-instance-settings.md``; the online limits in
``operational-limits-online.md``; and the sending job, codeunit 6154 "API Webhook Notification
Send" of BC's base application).

The state and rules live here; the OData routes are in ``emulators/dynamics.py``.

- A subscription lives three days unless renewed (PATCH); an expired one sends nothing and is gone
  from the list.
- Notifications are not sent at once: the job runs a while (30 s online) after the first change,
  takes every pending change, merges repeated updates of one record, turns more than 1,000 changes
  of a subscription into one ``collection`` notification whose resource filters on
  ``lastModifiedDateTime``, and POSTs one ``{"value": [...]}`` per notification URL (several
  subscriptions can share it). Notifications carry no record data.
- An answer of 408, 429, 5xx or none at all is retried later (after 1, 1, 10, 100 and 1000
  minutes); when those retries are used up, or on any other non-2xx answer, BC deletes the
  subscription(s) — on a refusal every subscription of that notification URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import Field

from emulators.delivery import Answer, Delivery, Lane, Outbox, Verdict, WebhookSettings
from emulators.odata import timestamp
from platforms.dynamics import demo_data, metadata

EMPTY_GUID: Final = demo_data.EMPTY_GUID
#: BC subtracts 50 ms from the first change's time in a collection's filter, "to be sure we get all
#: the changes since the SQL rounds in the different way than C# / AL".
_COLLECTION_MARGIN: Final = timedelta(milliseconds=50)


class DynamicsWebhookSettings(WebhookSettings):
    """``webhooks`` in the BC emulator's settings (``PATCH /_control/settings``)."""

    batch_window_seconds: float = Field(
        1.0, ge=0, description="wait after the first change before notifying (BC online: 30 s; short here for tests)"
    )
    collection_threshold: int = Field(
        1000, ge=1, description="more notifications than this for one subscription in a window: one `collection`"
    )
    subscription_ttl_seconds: float = Field(259200.0, gt=0, description="a subscription's life: three days")
    max_subscriptions: int = Field(200, ge=1, description="subscriptions per environment (BC online: 200)")
    handshake_timeout_seconds: float = Field(5.0, gt=0, description="ApiSubscriptionNotificationUrlTimeout: 5 s")
    timeout_seconds: float = Field(30.0, gt=0, description="ApiSubscriptionSendingNotificationTimeout: 30 s")
    retry_delays_seconds: list[float] = Field(
        default_factory=lambda: [60.0, 60.0, 600.0, 6000.0, 60000.0],
        description="the wait before each retry of a failed notification (BC: 1, 1, 10, 100, 1000 min); "
        "when they are used up the subscription is deleted",
    )


@dataclass
class Subscription:
    id: str  # 32 hex digits, as BC's examples show
    notification_url: str
    resource: str  # as the subscriber gave it; notifications append "(<id>)" to it
    entity_type: str  # ours: what changes it hears about
    client_state: str
    user_id: str
    created_at: float
    modified_at: float
    expires_at: float
    version: int = 1  # the Int64 `timestamp` (row version), bumped by every change

    @property
    def etag(self) -> str:
        return demo_data.weak_etag(self.id, f"{self.modified_at}|{self.version}")

    def record(self) -> dict[str, Any]:
        """The subscription as BC returns it: every ``$metadata`` property, in order."""
        modified = _stamp(self.modified_at)
        return metadata.whole(
            "subscriptions",
            {
                "@odata.etag": self.etag,
                "subscriptionId": self.id,
                "notificationUrl": self.notification_url,
                "resource": self.resource,
                "timestamp": self.version,
                "userId": self.user_id,
                "lastModifiedDateTime": modified,
                "clientState": self.client_state,
                "expirationDateTime": _stamp(self.expires_at),
                "systemCreatedAt": _stamp(self.created_at),
                "systemCreatedBy": self.user_id,
                "systemModifiedAt": modified,
                "systemModifiedBy": self.user_id,
            },
        )


@dataclass(frozen=True)
class Change:
    """One change a subscription has to be told about."""

    subscription_id: str
    record_id: str
    modified: datetime  # the record's new lastModifiedDateTime (a delete: when it was deleted)
    change_type: str = "updated"  # created, updated or deleted


def _stamp(moment: float) -> str:
    return timestamp(datetime.fromtimestamp(moment, UTC))


def user_id(client_id: str) -> str:
    """The BC user an app's client credentials act as (stable per client id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bc-app:{client_id}"))


@dataclass
class _Entry:
    change_type: str
    record_id: str | None
    first: datetime
    last: datetime


def aggregate(changes: list[Change], threshold: int) -> list[_Entry]:
    """One subscription's notifications for a window, as BC's sending job aggregates them.

    Repeated updates of one record become one notification with the latest time (a create or a
    delete is never merged: created-then-updated in one window is two notifications); once more than
    ``threshold`` notifications would be sent, they all become one ``collection`` spanning the
    first to the last change. Ordered by time, as BC's buffer is keyed.
    """
    entries: list[_Entry] = []
    by_record: dict[str, _Entry] = {}
    collection: _Entry | None = None
    for change in changes:
        if collection is not None:
            collection.last = max(collection.last, change.modified)
            continue
        known = by_record.get(change.record_id) if change.change_type == "updated" else None
        if known is not None:
            known.last = max(known.last, change.modified)
            continue
        if len(entries) >= threshold:
            first = min(e.first for e in entries)
            collection = _Entry("collection", None, first, change.modified)
            entries, by_record = [collection], {}
            continue
        entry = _Entry(change.change_type, change.record_id, change.modified, change.modified)
        entries.append(entry)
        if change.change_type == "updated":
            by_record[change.record_id] = entry
        else:
            by_record.pop(change.record_id, None)  # an update after a delete (or create) is its own
    return sorted(entries, key=lambda e: e.last)


@dataclass
class Subscriptions:
    """The environment's subscriptions, the changes waiting for the next send, and the policy."""

    outbox: Outbox
    settings: Callable[[], DynamicsWebhookSettings]
    now: Callable[[], float]
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    window: list[Change] = field(default_factory=list)

    def clear(self) -> None:
        self.subscriptions.clear()
        self.window.clear()

    # -- the store

    def active(self) -> list[Subscription]:
        """The live subscriptions; expired ones are deleted first, as BC's job deletes them."""
        now = self.now()
        for sub_id in [s.id for s in self.subscriptions.values() if s.expires_at < now]:
            del self.subscriptions[sub_id]
        return list(self.subscriptions.values())

    def get(self, sub_id: str) -> Subscription | None:
        return next((s for s in self.active() if s.id == sub_id), None)

    def delete(self, sub_ids: list[str]) -> None:
        for sub_id in sub_ids:
            self.subscriptions.pop(sub_id, None)

    def renewed(self, sub: Subscription) -> None:
        """A subscription just created or renewed: three more days from now."""
        now = self.now()
        sub.modified_at = now
        sub.expires_at = now + self.settings().subscription_ttl_seconds

    # -- notifications

    def note(self, entity_type: str, record_id: str, modified: datetime, change_type: str = "updated") -> None:
        """Keep a change for every live subscription to its entity set, until the window closes."""
        heard = [s for s in self.active() if s.entity_type == entity_type]
        if not heard:
            return
        if not self.window:
            self.outbox.at(self.now() + self.settings().batch_window_seconds, self.send)
        self.window.extend(Change(s.id, record_id, modified, change_type) for s in heard)

    def send(self) -> None:
        """The window closed: one batch per notification URL of everything it collected."""
        changes, self.window = self.window, []
        threshold = self.settings().collection_threshold
        batches: dict[str, list[dict[str, Any]]] = {}
        owners: dict[str, list[str]] = {}
        for sub in self.active():
            mine = [c for c in changes if c.subscription_id == sub.id]
            if not mine:
                continue
            entries = [self._notification(sub, e) for e in aggregate(mine, threshold)]
            batches.setdefault(sub.notification_url, []).extend(entries)
            owners.setdefault(sub.notification_url, []).append(sub.id)
        for url, entries in batches.items():
            self.outbox.enqueue("batch", f"url:{url}", url, {}, {"value": entries}, {"subscriptions": owners[url]})

    def _notification(self, sub: Subscription, entry: _Entry) -> dict[str, Any]:
        if entry.change_type == "collection":
            since = timestamp(entry.first - _COLLECTION_MARGIN)
            resource = f"{sub.resource}?$filter=lastModifiedDateTime%20gt%20{since}"
        else:
            resource = f"{sub.resource}({entry.record_id})"
        return {
            "subscriptionId": sub.id,
            "clientState": sub.client_state,
            "expirationDateTime": _stamp(sub.expires_at),
            "resource": resource,
            "changeType": entry.change_type,
            "lastModifiedDateTime": timestamp(entry.last),
        }

    # -- the delivery policy (emulators.delivery.DeliveryPolicy)

    def timeout_seconds(self, delivery: Delivery) -> float:
        return self.settings().timeout_seconds

    def prepare(self, delivery: Delivery) -> bool:
        # BC builds each send from the live subscriptions: one deleted or expired since is left out.
        live = {s.id for s in self.active()}
        value = [n for n in delivery.body["value"] if n["subscriptionId"] in live]
        delivery.body = {"value": value}
        delivery.context["subscriptions"] = [s for s in delivery.context["subscriptions"] if s in live]
        return bool(value)

    def settle(self, lane: Lane, delivery: Delivery, answer: Answer) -> Verdict:
        status = answer.status
        if status is not None and 200 <= status < 300:
            return Verdict("delivered")
        owners: list[str] = delivery.context["subscriptions"]
        if status is None or status in (408, 429) or 500 <= status <= 599:
            delays = self.settings().retry_delays_seconds
            if delivery.attempt <= len(delays):
                return Verdict("retrying", self.now() + delays[delivery.attempt - 1])
            self.delete(owners)  # "too many failures"
            return Verdict("failed")
        # Refused: BC deletes every subscription of this notification URL and what it owed them.
        self.delete([s.id for s in self.active() if s.notification_url == delivery.url])
        self.outbox.clear_lane(lane.key, None)
        return Verdict("failed")
