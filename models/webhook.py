from __future__ import annotations

from pydantic import BaseModel

from models.propagate import PropagateInput


class WebhookEvent(BaseModel):
    customer_id: str
    platform: str
    entity_type: str
    platform_id: str
    delivery_key: str


class FetchChangeResult(BaseModel):
    propagate: PropagateInput | None = None
    reason: str
    unmapped: bool = False  # a record the connection does not know yet: new since the connect
    #: The canonical object whose record is gone from the platform (a delete): its DeleteWorkflow starts.
    gone: str | None = None


class CatchUpInput(BaseModel):
    """A platform announced changes to many records of a type without naming them."""

    customer_id: str
    platform: str
    entity_type: str
    delivery_key: str


class ChangedRecords(BaseModel):
    platform_ids: list[str]  # mapped records whose platform copy differs from the stored one
    read: int
    unmapped: int  # records the connection did not know (new since the connect), now registered
    created: list[str] = []  # canonical ids whose create on the other platforms is pending


class CatchUpResult(BaseModel):
    read: int
    changed: int
    unmapped: int


class WebhookResult(BaseModel):
    propagation_id: str | None = None
    reason: str


class DeltaInput(BaseModel):
    """One delta pass of a live connection: what changed on the platform since the last one."""

    customer_id: str
    platform: str
    entity_type: str = ""  # set per type by the workflow
    #: Sweep for deletes now, whenever the last sweep was (otherwise every DELETE_SWEEP_INTERVAL_SECONDS).
    sweep: bool = False


class HandOnInput(BaseModel):
    """Changed records to follow on the webhook path, and what found them (shown in the UI)."""

    events: list[WebhookEvent]
    how: str


class DeltaChange(BaseModel):
    platform_id: str
    version: str  # the record's last-modified stamp or ETag: the same change read twice is one
    #: The key a notification of this change had (read from a platform's journal): it is followed
    #: under that key, so a change our receiver followed is not followed twice.
    delivery_key: str | None = None


class SweptChange(DeltaChange):
    entity_type: str


class SweepResult(BaseModel):
    """A deletion sweep: mapped records no longer on the platform (each confirmed by a read)."""

    swept: bool  # False: not due
    read: int = 0
    gone: list[tuple[str, str]] = []  # (canonical id, platform id)
    #: Records of the platform's journal types (``Platform.journal_types``) that differ from the
    #: stored copies: changes whose notification the platform lost and no journal shows.
    changed: list[SweptChange] = []
    #: Canonical ids of records of the journal types found new (their creates on the other platforms pending).
    created: list[str] = []
    #: When this sweep began (recorded as the connection's last sweep with the pass).
    swept_at: str | None = None


class DeltaChanges(BaseModel):
    changes: list[DeltaChange]
    read: int
    unmapped: int  # new records found (registered as canonical objects or linked)
    watermark: str | None  # the newest last-modified stamp read (None: nothing read)
    created: list[str] = []  # canonical ids whose create on the other platforms is pending
    unmappable: list[str] = []  # new records that cannot be read as canonical: "<id>: <why>"
    #: Read from the platform's change journal: where the next pass starts reading it (a watermark
    #: key of its own, naming the subscription, and the cursor; saved once the changes are handed on).
    journal_key: str | None = None
    journal_cursor: str | None = None


class DeltaTypeResult(BaseModel):
    entity_type: str
    read: int
    changed: int
    unmapped: int
    created: int = 0  # creates started on the other platforms


class DeltaResult(BaseModel):
    types: list[DeltaTypeResult]
    #: Mapped records found gone from the platform by this pass's sweep (their deletes started).
    deleted: int = 0
    swept: bool = False


class SubscriptionInput(BaseModel):
    """Check (or remove) the platform subscriptions of one live connection."""

    customer_id: str
    platform: str
    remove: bool = False  # the connection is going away: delete ours instead


class SubscriptionInfo(BaseModel):
    resource: str
    status: str  # active | expiring | missing | refused (platforms.descriptor.SubscriptionStatus)
    id: str | None = None
    expires_at: str | None = None
    detail: str | None = None


class SubscriptionResult(BaseModel):
    subscriptions: list[SubscriptionInfo] = []
    removed: int = 0
    reason: str = ""  # why nothing was registered (no live connection, ...)


class ResumeInput(BaseModel):
    """Hand on what a paused connection held, then catch up with a delta pass."""

    customer_id: str
    platform: str


class HeldChanges(BaseModel):
    events: list[WebhookEvent]
    collections: list[CatchUpInput] = []


class ResumeResult(BaseModel):
    released: int
