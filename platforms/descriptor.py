"""What a platform is to the rest of the product: one ``Platform`` object per platform package.

Each platform package (``platforms/procore/``, ``platforms/dynamics/``) exports ``PLATFORM``, a
``Platform`` carrying everything platform-specific that generic code needs: its mapper, its live
client factory, demo and sample records, which native fields are read-only, where a record keeps
its version (ETag / last-modified stamp), how its webhooks read, its business-key fields, its
``/transform`` context, its emulator and its rate-limit setting. ``platforms.registry`` lists them.
Generic code (activities, store, API, workflows) asks the descriptor and never names a platform or
reads a platform's JSON keys itself.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from canonical.entities import NUMBERED_TYPE, SYNCED_ENTITY_TYPES
from canonical.timefmt import parse_stamp

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from platforms.mapping import Mapper
    from settings import Settings

NativeRecord = dict[str, Any]
#: The outcome of a concurrency-checked live write (see ``LiveClient.write``).
WriteStatus = Literal["written", "recovered", "already", "conflict"]


class LiveClient(Protocol):
    """A connector to a customer's own platform account (one per connection, see ``platforms.live``)."""

    def records(self, entity_type: str) -> AsyncIterator[NativeRecord]:
        """Every record of a synced entity type, in a stable order (a retried seed resumes by count)."""
        ...

    def changed_since(self, entity_type: str, since: str | None) -> AsyncIterator[NativeRecord]:
        """The records of a type changed after ``since`` (a platform timestamp; None: all of them)."""
        ...

    async def fetch(self, entity_type: str, stored: Mapping[str, Any]) -> NativeRecord:
        """The record as the platform holds it now; ``stored`` is our last copy (ids, parents)."""
        ...

    async def write(
        self, entity_type: str, stored: Mapping[str, Any], changes: dict[str, Any], *, overwrite: bool
    ) -> tuple[NativeRecord, WriteStatus]:
        """Write ``changes`` to the record last seen as ``stored`` under the platform's concurrency rule.

        Returns (the remote record afterwards, status): ``written``; ``recovered`` when the record
        changed since we read it and holds exactly our values (an earlier attempt applied them and
        lost the response); ``already`` when there was nothing to change; ``conflict`` when somebody
        else changed it (then the remote record, untouched). ``overwrite`` writes over a remote change.
        """
        ...

    async def create(self, entity_type: str, record: Mapping[str, Any], marker: str) -> NativeRecord:
        """Create ``record`` (rendered from canonical) on the platform; ``marker`` is the engine's id
        for it (the canonical id), stored where the platform keeps an integration's own id."""
        ...

    async def find(self, entity_type: str, record: Mapping[str, Any], marker: str) -> NativeRecord | None:
        """The platform's record a create of ``record`` would duplicate: one carrying ``marker`` or
        the same strongest business key (what connect's reconciliation links by)."""
        ...

    async def delete(self, entity_type: str, stored: Mapping[str, Any]) -> None:
        """Delete the record last seen as ``stored``, as the platform's own rules allow. Returns when it
        is gone (a record already gone is not an error); ``RejectedError`` carries the platform's
        reason when it refuses (a posted document, a record in use). Never forced."""
        ...

    async def subscribe(self, destination: Destination) -> list[SubscriptionState]:
        """Make the platform notify ``destination`` of every change to the synced records: register
        what is missing, repair what is wrong (URL, secret), renew what expires; the state after."""
        ...

    async def unsubscribe(self, destination: Destination) -> int:
        """Remove every registration made for ``destination``; how many were removed."""
        ...


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One line of a platform's record of the notifications it made for a subscription (Procore's
    hook deliveries): the event as it was sent, and its place in the record (a cursor)."""

    cursor: int
    event: dict[str, Any]
    started_at: str | None  # when the platform first tried to deliver it


@runtime_checkable
class ChangeJournal(Protocol):
    """A connector whose platform keeps a readable record of the change notifications it made: the
    delta pass's change feed for types whose lists cannot be asked "what changed since"."""

    def journal(self, subscription_id: str, after: int) -> AsyncIterator[JournalEntry]:
        """The notifications made for ``subscription_id`` after ``cursor`` ``after``, whatever became
        of them (delivered, failing, given up), in cursor order."""
        ...

    async def records_near(self, entity_type: str, event: Mapping[str, Any]) -> list[NativeRecord]:
        """The records of a type in the scope an event names (Procore: its project): where a record
        the event announces, and the engine has never seen, is found."""
        ...


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a connection's change notifications go, and what they must carry."""

    url: str  # {PUBLIC_BASE_URL}/api/v1/webhooks/{platform}
    secret: str  # the connection's webhook secret (Procore: destination header; BC: clientState)
    namespace: str  # how the platform groups our registrations (Procore hook namespace)


#: active: registered and delivering; expiring: within a day of its expiry (renewed on the next
#: check); missing: not registered (re-created on the next check); refused: the platform would
#: not register it (``detail`` says why); the delta pass covers what is not active.
SubscriptionStatus = Literal["active", "expiring", "missing", "refused"]


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    resource: str  # what it covers, in the platform's words (a trigger, an entity set)
    status: SubscriptionStatus
    id: str | None = None
    expires_at: str | None = None
    detail: str | None = None


#: (live settings without credentials, decrypted credentials, shared HTTP client) -> a connector.
LiveClientFactory = Callable[["httpx.AsyncClient", Mapping[str, Any], Mapping[str, str]], LiveClient]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One change a delivery announces: which record, and the key that makes a repeat recognisable."""

    api_key: str | None  # the credential the delivery carries for it (header or per-notification)
    entity_type: str
    platform_id: str  # "" for a collection event
    delivery_key: str
    #: Many records of the type changed and the platform does not say which (BC ``collection``).
    collection: bool = False


class WebhookShapeError(ValueError):
    """The delivery is not what the platform sends (400, nothing recorded)."""


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    events: list[WebhookEvent]
    received: int  # notifications in the delivery, whether or not we act on them


@dataclass(frozen=True, slots=True)
class Webhooks:
    """How a platform's change notifications read (``POST /api/v1/webhooks/{platform}``)."""

    #: The delivery -> the changes it announces (``WebhookShapeError`` for a malformed one).
    parse: Callable[[Any, str | None], WebhookDelivery]
    #: A subscription handshake (query parameters -> the text to echo), or None when it is not one.
    handshake: Callable[[Mapping[str, str]], str | None] = lambda query: None
    #: True when the delivery is only trusted with a key in its Authorization header (no body secret).
    requires_header_key: bool = False
    #: True when any answer but 2xx, 408, 429 or 5xx makes the platform delete the subscription
    #: (Business Central): a delivery we cannot use is then acknowledged and logged, never refused.
    acknowledge_unusable: bool = False


def lazy(target: str) -> Callable[..., Any]:
    """``"package.module:function"`` as a callable that imports it on first use: emulators and
    synthetic data sets pull in what a worker or the API never needs (FastAPI apps, generators)."""
    module_name, _, attribute = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), attribute)(*args, **kwargs)

    call.__qualname__ = call.__name__ = attribute
    return call


def _no_webhooks(body: Any, header_key: str | None) -> WebhookDelivery:
    raise WebhookShapeError("this platform sends no webhooks")


@dataclass(frozen=True, slots=True)
class LiveSettingsRule:
    """Which live connection settings the platform needs (besides base URL and credentials)."""

    required: tuple[str, ...] = ()
    label: str = ""  # how the error names the platform

    def missing_message(self, given: Mapping[str, Any]) -> str | None:
        """The 400 message when a required setting is missing, else None."""
        if all(given.get(name) for name in self.required):
            return None
        names = [f"settings.{name}" for name in self.required]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"{listed} {'is' if len(names) == 1 else 'are'} required for {self.label}"


@dataclass(frozen=True, slots=True)
class Platform:
    """Everything platform-specific, in one object (see the module docstring)."""

    name: str  # the API's name, e.g. procore (lower case, as in URLs and request bodies)
    title: str  # for people, e.g. Business Central
    mapper: Mapper
    #: The demo data set, by synced entity type (what a sandbox connect seeds).
    demo_records: Callable[[], Mapping[str, Sequence[NativeRecord]]]
    #: One realistic record per entity type, GET-shaped (tests, benchmarks, /transform examples).
    samples: Callable[[], Mapping[str, NativeRecord]]
    #: Native fields a caller may never write: ids, server stamps, version tokens.
    read_only_fields: frozenset[str] = frozenset({"id"})
    #: Native fields the platform computes and its write schema does not take, per entity type:
    #: native key -> why. They are never sent: a fan-out changing only them fails that platform
    #: before writing, saying so; beside other fields they are left out and noted.
    computed_fields: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: The longest text each native field takes, per entity type (BC's ``$metadata`` MaxLength): a
    #: longer value fails that platform before writing instead of being the platform's 400.
    max_lengths: Callable[[], Mapping[str, Mapping[str, int]]] = lambda: {}
    #: Native keys with these prefixes are annotations, not fields (OData's ``@odata.*``).
    annotation_prefixes: tuple[str, ...] = ()
    #: The record's concurrency token (sent back as If-Match) and its last-modified stamp.
    etag_key: str | None = None
    updated_at_keys: tuple[str, ...] = ()
    #: Business-key fields per synced entity type: (key kind, native field), strongest first.
    business_keys: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: The currency a record's amounts are in, when it says so (else None: the customer's).
    record_currency: Callable[[Mapping[str, Any]], str | None] = lambda record: None
    #: ``/transform`` context keys this platform adds (camelCase): key -> (type, description), and
    #: how they become mapping options (``MappingContext.options``), given a reader of text keys.
    transform_context: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    transform_options: Callable[[Callable[[str], str | None]], dict[str, Any]] = lambda read: {}
    #: Mapping options for a record the engine creates here, which has no record of its own to say
    #: them (Procore: a contract made from an ERP sales order is a work order contract, a subcontract).
    create_options: Mapping[str, Any] = field(default_factory=dict)
    live_client: LiveClientFactory | None = None
    #: The canonical id a record the engine created carries (its create marker), or None: how a
    #: record whose create answer was lost is recognised as ours when it comes back as "new".
    created_marker: Callable[[str, Mapping[str, Any]], str | None] = lambda entity_type, record: None
    live_settings: LiveSettingsRule = LiveSettingsRule()
    webhooks: Webhooks = Webhooks(parse=_no_webhooks)
    #: Types whose lists cannot say what changed since a time (Procore's project-scoped lists: one
    #: request per project, per contract for payments, and contract payments take no updated_at
    #: filter): a delta pass reads them from the connector's ``ChangeJournal`` while the engine's
    #: subscription is active, and the deletion sweep, which reads every record, also compares them.
    #: Per such type, the subscriptions (``SubscriptionState.resource``) that must all be active for
    #: its journal to be whole: a trigger refused or missing leaves the type to its lists.
    journal_types: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Generated sandbox data of any size (bench/connect): (entity type, payments) -> records.
    synthetic_records: Callable[[str, int], Iterator[NativeRecord]] | None = None
    #: The platform's emulator (a fresh app per call) and the setting naming its port.
    emulator_app: Callable[[], FastAPI] | None = None
    emulator_port_setting: str | None = None
    #: The setting of its fleet-wide live request rate, and the rate when there is no such setting.
    rate_limit_setting: str | None = None
    default_requests_per_second: float = 5.0

    @property
    def synced_entity_types(self) -> tuple[str, ...]:
        """The synced entity types this platform has, in seed order: those it names business keys
        for (reconciliation needs them). A connect skips the others."""
        return tuple(entity for entity in SYNCED_ENTITY_TYPES if entity in self.business_keys)

    def number_field(self, entity_type: str) -> str | None:
        """The native field holding a record's business number (its strongest key's field)."""
        keys = self.business_keys.get(entity_type)
        return keys[0][1] if keys else None

    def is_annotation(self, key: str) -> bool:
        """Whether a native key is metadata about the record (``@odata.etag``), not one of its fields."""
        return key.startswith(self.annotation_prefixes)

    def version_fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record's version keys (ETag, last-modified stamps) as it holds them."""
        keys = ((self.etag_key,) if self.etag_key else ()) + self.updated_at_keys
        return {key: record[key] for key in keys if key in record}

    def older(self, incoming: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
        """Whether ``incoming`` is an older version of the record than ``stored`` (by last-modified
        stamp; unknown when either has none, and then not older): a late read never wins."""
        new, old = parse_stamp(self.updated_at(incoming)), parse_stamp(self.updated_at(stored))
        return new is not None and old is not None and new < old

    def number_reference(self) -> tuple[str, str | None]:
        """The entity type records reference by business number, and this platform's field for that
        number (what the store reads to link numbers: BC documents name their job by number)."""
        return NUMBERED_TYPE, self.number_field(NUMBERED_TYPE)

    def writable(self, key: str) -> bool:
        """Whether a native key is a field a change may carry (not read-only, not an annotation)."""
        return key not in self.read_only_fields and not self.is_annotation(key)

    def unwritable(self, entity_type: str, changes: Mapping[str, Any]) -> list[str]:
        """Why a write of ``changes`` (native keys) to this platform would be refused or not applied:
        over-long text (the platform's 400, said first). Empty when it can be written."""
        limits = self.max_lengths().get(entity_type, {})
        problems = []
        for key, value in changes.items():
            limit = limits.get(key)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                problems.append(f"{key} is {len(value)} characters; {self.title} takes at most {limit}")
        return problems

    def etag(self, record: Mapping[str, Any]) -> str | None:
        value = record.get(self.etag_key) if self.etag_key else None
        return None if value is None else str(value)

    def updated_at(self, record: Mapping[str, Any]) -> str | None:
        for key in self.updated_at_keys:
            value = record.get(key)
            if value:
                return str(value)
        return None

    def requests_per_second(self, settings: Settings) -> float:
        if self.rate_limit_setting is None:
            return self.default_requests_per_second
        return float(getattr(settings, self.rate_limit_setting))

    def emulator_port(self, settings: Settings) -> int | None:
        return None if self.emulator_port_setting is None else int(getattr(settings, self.emulator_port_setting))
