"""Dynamics 365 Business Central API v2.0 (OData v4) emulator, seeded with ``platforms.dynamics.demo_data``.

Faithful to Business Central's published API v2.0 documentation (Microsoft Learn): an Entra-style client
credentials token endpoint, company-scoped OData URLs with unquoted GUID keys, the collection
envelope with ``@odata.nextLink`` server paging (``Prefer: odata.maxpagesize``), ``$filter``/
``$top``/``$skip``/``$select``/``$orderby``/``$count``, a weak ``@odata.etag`` that changes on every
write, ``If-Match`` rules (400 ``BadRequest_InvalidToken``, 412/409 ``Request_EntityChanged``),
read-only fields and number series, BC's error body with a CorrelationId, and per-user limits
(requests per 5-minute sliding window, 5 concurrent, a queue of 95). Simplifications are listed in
docs/emulators.md.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.common import (
    BodyError,
    Choice,
    EmulatorCore,
    EmulatorError,
    FaultSpec,
    FieldType,
    Invalid,
    JSONResponse,
    Kind,
    Operation,
    Record,
    TokenStatus,
    WriteEntry,
    build_app,
    coerce_fields,
    fault_status,
    json_object,
    monotonic_stamp,
    parse_timestamp,
    token_request_params,
)
from emulators.delivery import Answer
from emulators.dynamics_subscriptions import DynamicsWebhookSettings, Subscription, Subscriptions, user_id
from emulators.odata import (
    Comparison,
    ODataError,
    matches,
    max_page_size,
    non_negative,
    parse_filter,
    parse_orderby,
    parse_select,
    sort_records,
    timestamp,
)
from platforms.dynamics import demo_data, metadata
from platforms.dynamics.metadata import Property

DEFAULT_TENANT: Final = "5d2f4a8e-9c3b-4e71-a6d0-1b8f7e2c9a34"
DEFAULT_ENVIRONMENT: Final = "production"
DEFAULT_CLIENT_ID: Final = "structural-bc-client"
DEFAULT_CLIENT_SECRET: Final = "structural-bc-secret"
SCOPE: Final = "https://api.businesscentral.dynamics.com/.default"
COMPANY_ID: Final = demo_data.COMPANY_ID
ENTITY_CHANGED: Final = "Another user has already changed the record."
_EMPTY_GUID: Final = demo_data.EMPTY_GUID
_IF_MATCH: Final = re.compile(r'\*|(W/)?"[^"]*"')
_SEGMENT: Final = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9.]*)(?:\((?P<key>[^()]*)\))?")
_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_JOURNAL_FILTER_MISSING: Final = "You must specify a journal batch ID or a journal ID to get a journal line."
# subscriptions, or one of them: its key is a string, so it goes in quotes.
_SUBSCRIPTION_PATH: Final = re.compile(r"subscriptions(?:\((?P<key>[^()]*)\))?")
_QUOTED: Final = re.compile(r"'(?P<id>[^']*)'")


class DynamicsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token_ttl_seconds: float = Field(3599.0, gt=0)
    conflict_status: Literal[409, 412] = Field(
        409,
        description="status of a stale If-Match: Request_EntityChanged is an ODataConflictException, 409 in "
        "Microsoft's HTTP status table (web-service-troubleshooting); 412 for clients that expect it",
    )
    requests_per_window: int = Field(6000, ge=1, description="per user, sliding window")
    window_seconds: float = Field(300.0, gt=0)
    max_concurrent: int = Field(5, ge=1, description="requests processed at once per user")
    max_queue: int = Field(95, ge=0, description="requests waiting per user before 429")
    max_page_size: int = Field(20000, ge=1, description="server-driven page size cap")
    webhooks: DynamicsWebhookSettings = Field(default_factory=DynamicsWebhookSettings)


# ----------------------------------------------------------------------------------------- entity sets


@dataclass(frozen=True)
class _Link:
    """A reference BC accepts by id or by number and keeps consistent (customerId/customerNumber)."""

    id_field: str
    number_field: str
    entity_type: str
    caption: str
    copies: Mapping[str, str] = field(default_factory=dict)  # this record's field -> target's field


@dataclass(frozen=True)
class _EntitySet:
    """An entity set, its properties and Edm types straight from the vendored ``$metadata``."""

    name: str
    entity_type: str  # ours (contract), also the key of the emulator's records
    bc_type: str  # BC's entity type (salesOrder)
    caption: str  # the table caption BC uses in messages
    read_only: frozenset[str] = frozenset()  # Editable = false on the API page
    number_series: str | None = None  # set: `number` comes from this No. Series (Manual Nos. off)
    links: tuple[_Link, ...] = ()
    patchable: bool = True

    @property
    def type_name(self) -> str:
        return f"Microsoft.NAV.{self.bc_type}"

    @property
    def props(self) -> Mapping[str, Property]:
        return metadata.schema().properties(self.bc_type)

    def fixed(self) -> set[str]:
        """Fields a PATCH may not change."""
        return {"id", "lastModifiedDateTime", "number", *self.read_only}

    def writable(self) -> Mapping[str, FieldType]:
        fixed = self.fixed()
        return {name: _field_type(p) for name, p in self.props.items() if name not in fixed}


def _field_type(prop: Property) -> FieldType:
    if prop.is_enum:
        return Choice(metadata.schema().members(prop.type))
    return _KINDS.get(prop.type, Kind.TEXT)


_KINDS: Final[Mapping[str, Kind]] = {
    "Edm.String": Kind.TEXT,
    "Edm.Decimal": Kind.DECIMAL,
    "Edm.Date": Kind.DATE,
    "Edm.Boolean": Kind.BOOL,
    "Edm.Int32": Kind.INT,
    "Edm.Guid": Kind.GUID,
}


def _set(name: str, entity_type: str, caption: str, **kwargs: Any) -> _EntitySet:
    bc_type = metadata.schema().entity_sets[name]
    return _EntitySet(name, entity_type, bc_type, caption, metadata.READ_ONLY.get(entity_type, frozenset()), **kwargs)


_CUSTOMER: Final = _Link("customerId", "customerNumber", "customer", "Customer", {"customerName": "displayName"})
_INVOICE: Final = _Link("appliesToInvoiceId", "appliesToInvoiceNumber", "invoice", "Sales Invoice")

_SETS: Final = MappingProxyType(
    {
        s.name: s
        for s in (
            # BC Jobs expose only number and displayName through the standard API.
            _set("projects", "project", "Job", number_series="JOB"),
            _set("customers", "customer", "Customer", number_series="CUST"),
            _set("salesOrders", "contract", "Sales Header", links=(_CUSTOMER,)),
            _set("salesInvoices", "invoice", "Sales Header", links=(_CUSTOMER,)),
            _set("customerPayments", "payment", "Gen. Journal Line", links=(_CUSTOMER, _INVOICE)),
            _set("customerPaymentJournals", "journal", "Gen. Journal Batch", patchable=False),
        )
    }
)


#: Each set's entity type -> its set (the journal lines' set is customerPayments).
_SET_OF: Final = MappingProxyType({s.entity_type: s for s in _SETS.values()})


@dataclass(frozen=True)
class _Series:
    """A No. Series: numbers are ``prefix`` + ``digits`` zero-padded, counting up by ``step``.

    Starting points continue the demo data's numbers (C00010…C00040, SO-1001…, S-INV100214); the
    Jobs series is Cronus-like (our guess: the demo projects were numbered by hand)."""

    prefix: str
    digits: int
    step: int

    def number(self, value: int) -> str:
        return f"{self.prefix}{value:0{self.digits}d}"

    def value(self, number: Any) -> int | None:
        if not isinstance(number, str) or not number.startswith(self.prefix):
            return None
        rest = number[len(self.prefix) :]
        return int(rest) if len(rest) == self.digits and rest.isdigit() else None


_SERIES: Final[Mapping[str, _Series]] = MappingProxyType(
    {
        "customer": _Series("C", 5, 10),
        "project": _Series("J", 5, 10),
        "contract": _Series("SO-", 4, 1),
        "invoice": _Series("S-INV", 6, 1),
    }
)
#: Document statuses of an invoice that is not posted yet (a draft, or one waiting for approval).
_UNPOSTED: Final = frozenset({"Draft", "In_x0020_Review"})
#: Sales & Receivables Setup "Allow Document Deletion Before" of the emulated company: posted
#: documents dated on or after it cannot be deleted (codeunit 363 "PostSales-Delete").
ALLOW_DOCUMENT_DELETION_BEFORE: Final = "2020-01-01"


@dataclass(frozen=True)
class _Target:
    """What an OData path addresses: a collection, or one entity of it."""

    entity_set: _EntitySet
    record_id: str | None
    journal_id: str | None  # payments addressed through their journal
    context: str  # the part after "$metadata#"


#: The write log's operations as BC names its notifications' change types.
_CHANGE_TYPES: Final[Mapping[Operation, str]] = {"create": "created", "update": "updated", "delete": "deleted"}


def _seed() -> dict[str, list[Record]]:
    return {**demo_data.demo_records(), "journal": demo_data.payment_journals()}


def _correlated(message: str) -> str:
    return f"{message}  CorrelationId:  {uuid.uuid4()}."


class _ODataResponse(JSONResponse):
    media_type = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false"


def _odata(content: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return _ODataResponse(content, status_code=status, headers={"OData-Version": "4.0", **(headers or {})})


def _error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _odata({"error": {"code": code, "message": _correlated(message)}}, status=status, headers=headers)


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> EmulatorError:
    return EmulatorError(_error_response(status, code, message, headers))


def _entra_error(status: int, error: str, code: int, description: str) -> EmulatorError:
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return EmulatorError(
        JSONResponse(
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
                f"{correlation} Timestamp: {now}",
                "error_codes": [code],
                "timestamp": now,
                "trace_id": str(trace),
                "correlation_id": str(correlation),
            },
            status_code=status,
        )
    )


def _literal_of(problem: Invalid) -> str:
    return problem.value if isinstance(problem.value, str) else str(problem.value).lower()


# --------------------------------------------------------------------------------------------- state


@dataclass
class _UserLoad:
    """One user's request history and concurrency, for BC's per-user limits."""

    recent: deque[float] = field(default_factory=deque)
    active: int = 0  # running plus queued
    gate: asyncio.Semaphore | None = None
    gate_size: int = 0


class DynamicsEmulator(EmulatorCore[DynamicsSettings]):
    def __init__(self, settings: DynamicsSettings, clients: Mapping[str, str], tenant: str, environment: str) -> None:
        self.clients = dict(clients)
        self.tenant = tenant
        self.environment = environment
        self._load: dict[str, _UserLoad] = {}
        super().__init__(_seed, settings)

    def bump_version(self, entity_type: str, record: Record) -> str:
        modified = monotonic_stamp(self.clock.datetime(), record.get("lastModifiedDateTime"), 0.001, timestamp)
        record["lastModifiedDateTime"] = modified
        record["@odata.etag"] = demo_data.weak_etag(str(record["id"]), modified)
        return str(record["@odata.etag"])

    def version_of(self, record: Record) -> str:
        return str(record["@odata.etag"])

    # -- webhooks

    @cached_property
    def subscriptions(self) -> Subscriptions:
        # Made on first use: reset() (run by EmulatorCore.__init__) is the first, after the outbox.
        subscriptions = Subscriptions(self.outbox, lambda: self.settings.webhooks, self.clock.now)
        self.outbox.policy = subscriptions
        self.outbox.waiting = lambda: len(subscriptions.window)
        return subscriptions

    def reset(self) -> None:
        self._last_numbers: dict[str, int] = {}
        super().reset()
        self.subscriptions.clear()

    def changed(self, entry: WriteEntry, record: Record, client_id: str | None) -> None:
        # A deleted record has no new modification time: the notification carries the deletion's.
        stamp = self.clock.datetime() if entry.operation == "delete" else None
        modified = stamp or parse_timestamp(str(record["lastModifiedDateTime"]))
        self.subscriptions.note(entry.entity_type, entry.record_id, modified, _CHANGE_TYPES[entry.operation])

    # -- creates

    def next_number(self, entity_type: str) -> str:
        """The next number of the entity's No. Series (never one used before in this instance)."""
        series = _SERIES[entity_type]
        used = [v for r in self.records.get(entity_type, {}).values() if (v := series.value(r.get("number")))]
        last = max([self._last_numbers.get(entity_type, 0), *used])
        self._last_numbers[entity_type] = last + series.step
        return series.number(last + series.step)

    def new_record(self, entity_type: str, fields: Mapping[str, Any]) -> Record:
        entity_set = _SET_OF.get(entity_type)
        if entity_set is None or not entity_set.patchable:
            raise ValueError(f"records of type {entity_type!r} cannot be created here")
        values = {"id": str(uuid.uuid4()), **{k: v for k, v in fields.items() if not k.startswith("@")}}
        try:
            record = metadata.whole(entity_set.bc_type, {"@odata.etag": "", **values})
        except KeyError as exc:
            raise ValueError(str(exc)) from exc
        if entity_type in _SERIES and record.get("number") in (None, ""):
            record["number"] = self.next_number(entity_type)
        if entity_set.links:
            # The client fills a document's customer fields (name, bill-to, currency) from the
            # customer picked, as the API page does.
            linked = {k: v for k, v in values.items() if k != "id"}
            try:
                self._link(entity_set, record, linked)
            except EmulatorError as exc:
                raise ValueError(bytes(exc.response.body).decode()) from exc
            record.update(linked)
            self._copy_customer(entity_set, record, linked)
        return record

    async def subscription_request(self, request: Request, key: str | None, base: str) -> Response:
        """``subscriptions`` and ``subscriptions('<id>')``: list, create, read, renew, delete."""
        if key is None:
            if request.method == "GET":
                rows = [s.record() for s in sorted(self.subscriptions.active(), key=lambda s: s.created_at)]
                return _odata({"@odata.context": f"{base}/$metadata#subscriptions", "value": rows})
            if request.method == "POST":
                return await self.subscribe(request, base)
            raise _error(
                405,
                "BadRequest_MethodNotAllowed",
                f"'{request.method}' requests for 'subscriptions' of EdmType 'Collection' are not allowed within "
                "Microsoft Dynamics 365 Business Central OData web services.",
            )
        quoted = _QUOTED.fullmatch(key)
        if quoted is None:
            # subscriptionId is an Edm.String key: unquoted, it is not a literal of its type.
            raise _error(400, "BadRequest", f"Bad Request - Error in query syntax: invalid key ({key}).")
        sub = self.subscriptions.get(quoted.group("id"))
        if sub is None:
            raise _not_found_segment("subscriptions")
        if request.method == "GET":
            return _subscription_response(sub, base)
        if request.method == "PATCH":
            return await self.renew(request, sub, base)
        if request.method == "DELETE":
            # The delete page lists If-Match as required, like an update.
            self.current(_if_match(request), sub.etag)
            self.subscriptions.delete([sub.id])
            return Response(status_code=204, headers={"OData-Version": "4.0"})
        raise _error(405, "BadRequest_MethodNotAllowed", f"'{request.method}' is not supported for 'subscriptions'.")

    async def subscribe(self, request: Request, base: str) -> Response:
        body = await _body(request)
        values = self._subscription_values(body, required=True)
        if len(self.subscriptions.active()) >= self.settings.webhooks.max_subscriptions:
            raise _dialog(
                f"The maximum number of webhook subscriptions ({self.settings.webhooks.max_subscriptions}) "
                "has been reached."
            )
        await self.handshake(values["notificationUrl"])
        now = self.clock.now()
        client = user_id(self.tokens.client_of(request.scope) or "")
        sub = Subscription(
            id=uuid.uuid4().hex,
            notification_url=values["notificationUrl"],
            resource=values["resource"],
            entity_type=values["entity_type"],
            client_state=values.get("clientState", ""),
            user_id=client,
            created_at=now,
            modified_at=now,
            expires_at=now,
        )
        self.subscriptions.renewed(sub)
        self.subscriptions.subscriptions[sub.id] = sub
        response = _subscription_response(sub, base, status=201)
        response.headers["Location"] = f"{base}/subscriptions('{sub.id}')"
        return response

    async def renew(self, request: Request, sub: Subscription, base: str) -> Response:
        """PATCH: change what is given, handshake again, and live three more days."""
        if_match = _if_match(request)
        values = self._subscription_values(await _body(request), required=False)
        self.current(if_match, sub.etag)
        await self.handshake(values.get("notificationUrl", sub.notification_url))
        if "notificationUrl" in values:
            sub.notification_url = values["notificationUrl"]
        if "resource" in values:
            sub.resource, sub.entity_type = values["resource"], values["entity_type"]
        if "clientState" in values:
            sub.client_state = values["clientState"]
        sub.version += 1
        self.subscriptions.renewed(sub)
        return _subscription_response(sub, base)

    def _subscription_values(self, body: dict[str, Any], *, required: bool) -> dict[str, Any]:
        props = metadata.schema().properties("subscriptions")
        for name in body:
            if name not in props:
                raise _error(
                    400,
                    "BadRequest",
                    f"Could not find a property named '{name}' on type 'Microsoft.NAV.subscriptions'.",
                )
        values: dict[str, Any] = {}
        for name in ("notificationUrl", "resource", "clientState"):
            if name not in body:
                if required and name != "clientState":
                    raise _error(400, "BadRequest", f"The '{name}' property is required to create a subscription.")
                continue
            value = body[name]
            if not isinstance(value, str):
                raise _error(
                    400,
                    "BadRequest",
                    f"Cannot convert the literal '{_literal_of(Invalid(name, value, Kind.TEXT))}' to the expected "
                    "type 'Edm.String'.",
                )
            _fits(value, props[name])
            values[name] = value
        # The other properties (subscriptionId, expirationDateTime, userId, ...) are BC's to set:
        # Microsoft's create example sends them and they are ignored.
        if "notificationUrl" in values:
            _valid_url(values["notificationUrl"])
        if "resource" in values:
            values["resource"], values["entity_type"] = self._subscribed(values["resource"])
        return values

    def _subscribed(self, resource: str) -> tuple[str, str]:
        """A subscription's resource (relative or absolute) and the entity type it hears about.

        It must be an entity set this emulator serves, of a company it has; a single entity, a
        nested set or a query cannot be subscribed to.
        """
        invalid = _error(400, "BadRequest", f"The resource '{resource}' is not a valid webhook resource.")
        path = (urlsplit(resource).path if "://" in resource else resource).strip("/")
        _, api, rest = path.rpartition("api/v2.0/")
        odata_path = rest if api else path
        if "?" in resource or not odata_path.startswith("companies("):
            raise invalid
        target = self.target(odata_path)
        if target is None or target.record_id is not None or target.journal_id is not None:
            raise invalid
        return resource.rstrip("/"), target.entity_set.entity_type

    async def handshake(self, notification_url: str) -> None:
        """BC calls the notification URL with a ``validationToken``; without it echoed in a 200 the
        subscription is neither created nor renewed."""
        token = str(uuid.uuid4())

        def echoed(answer: Answer) -> bool:
            return answer.status == 200 and answer.body == token

        accepted = await self.outbox.call(
            "handshake",
            f"url:{notification_url}",
            notification_url,
            params={"validationToken": token},
            limit=self.settings.webhooks.handshake_timeout_seconds,
            accept=echoed,
            context={},
        )
        if not accepted:
            raise _error(
                400,
                "BadRequest",
                "The subscription handshake failed: the notification URL must answer 200 with the "
                "validationToken as its body.",
            )

    # -- limits

    def reset_limits(self) -> None:
        self._load = {}

    def load(self, client_id: str) -> _UserLoad:
        load = self._load.setdefault(client_id, _UserLoad())
        if load.gate is None or load.gate_size != self.settings.max_concurrent:
            load.gate, load.gate_size = asyncio.Semaphore(self.settings.max_concurrent), self.settings.max_concurrent
        return load

    def admit(self, load: _UserLoad) -> bool:
        """Record a request in the sliding window unless the window or the queue is full."""
        now = self.clock.now()
        while load.recent and load.recent[0] <= now - self.settings.window_seconds:
            load.recent.popleft()
        if len(load.recent) >= self.settings.requests_per_window:
            return False
        if load.active >= self.settings.max_concurrent + self.settings.max_queue:
            return False
        load.recent.append(now)
        return True

    # -- faults

    def fault_response(self, spec: FaultSpec) -> Response:
        status, retry_after = fault_status(spec)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return _error_response(status, _status_code(status), _status_message(status), headers)

    # -- requests

    def authorize(self, request: Request, tenant: str) -> None:
        status, token = self.tokens.check(request.headers.get("authorization"))
        # A token is good for the tenant it was issued in, and only there.
        if status is TokenStatus.VALID and token and token.audience == tenant.lower() == self.tenant.lower():
            return
        message = (
            "The access token has expired."
            if status is TokenStatus.EXPIRED
            else "The server has rejected the client credentials."
        )
        raise _error(
            401,
            "Authentication_InvalidCredentials",
            message,
            {
                "WWW-Authenticate": f'Bearer authorization_uri="https://login.microsoftonline.com/{self.tenant}'
                f'/oauth2/authorize", resource_id="https://api.businesscentral.dynamics.com"'
            },
        )

    def target(self, path: str) -> _Target | None:
        """Resolve ``companies(...)/...``; ``None`` for the ``companies`` collection itself."""
        segments: list[tuple[str, str | None]] = []
        for part in path.strip("/").split("/"):
            match = _SEGMENT.fullmatch(part)
            if match is None:
                raise _error(400, "BadRequest", "Bad Request - Error in query syntax.")
            key = match.group("key")
            if key is not None and not _GUID.fullmatch(key):
                # Keys are bare GUIDs: BC rejects quoted ('...') or malformed keys.
                raise _error(400, "BadRequest", f"Bad Request - Error in query syntax: invalid key ({key}).")
            segments.append((match.group("name"), key.lower() if key else None))
        (first, company), rest = segments[0], segments[1:]
        if first != "companies":
            raise _not_found_segment(first)
        if company is None and not rest:
            return None
        if company != COMPANY_ID:
            raise _error(404, "Internal_CompanyNotFound", f"Cannot find company '{company}'.")
        if not rest:
            raise _error(405, "BadRequest_MethodNotAllowed", "A company is read through the companies set.")
        context = f"companies({company})"
        journal_id = None
        if len(rest) == 2:
            # The one nested collection served: a payment journal's lines.
            (parent, journal_id), rest = rest[0], rest[1:]
            if parent != "customerPaymentJournals" or journal_id is None or rest[0][0] != "customerPayments":
                raise _not_found_segment(rest[0][0])
            if self.record("journal", journal_id) is None:
                raise _record_not_found(_SETS["customerPaymentJournals"], journal_id)
            context += f"/customerPaymentJournals({journal_id})"
        if len(rest) != 1:
            raise _not_found_segment(rest[-1][0])
        name, record_id = rest[0]
        entity_set = _SETS.get(name)
        if entity_set is None:
            raise _not_found_segment(name)
        return _Target(entity_set, record_id, journal_id, f"{context}/{name}")

    def entity(self, target: _Target) -> Record:
        assert target.record_id is not None
        record = self.record(target.entity_set.entity_type, target.record_id)
        if record is None or (target.journal_id is not None and record.get("journalId") != target.journal_id):
            raise _record_not_found(target.entity_set, target.record_id)
        return record

    def known(self, entity_set: _EntitySet, names: list[str]) -> None:
        for name in names:
            if name not in entity_set.props:
                raise _error(
                    400,
                    "BadRequest",
                    f"Could not find a property named '{name}' on type '{entity_set.type_name}'.",
                )

    # -- reads

    def collection(self, request: Request, target: _Target, base: str) -> Response:
        query = request.query_params
        entity_set = target.entity_set
        try:
            comparisons = parse_filter(query["$filter"]) if "$filter" in query else []
            order = parse_orderby(query["$orderby"]) if "$orderby" in query else []
            select = parse_select(query["$select"]) if "$select" in query else None
            skip = non_negative(query.get("$skip"), "$skip") or 0
            top = non_negative(query.get("$top"), "$top")
            offset = non_negative(query.get("$skiptoken"), "$skiptoken") or 0
        except ODataError as exc:
            raise _error(400, "BadRequest", str(exc)) from exc
        if "$expand" in query:
            raise _error(400, "BadRequest", "$expand is not supported by the emulator.")
        self.known(entity_set, [c.field for c in comparisons] + [name for name, _ in order] + (select or []))
        rows = list(self.records[entity_set.entity_type].values())
        if entity_set.name == "customerPayments":
            rows = self._journal_lines(rows, target, comparisons)
        try:
            rows = [r for r in rows if all(matches(r, c) for c in comparisons)]
        except ODataError as exc:
            raise _error(400, "BadRequest", str(exc)) from exc
        rows = sort_records(rows, order) if order else rows
        count = len(rows)
        rows = rows[skip:] if top is None else rows[skip : skip + top]
        preferred = max_page_size(request.headers.get("prefer"))
        size = min(preferred or self.settings.max_page_size, self.settings.max_page_size)
        page = rows[offset : offset + size]
        body: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{target.context}"}
        if query.get("$count") == "true":
            body["@odata.count"] = count
        body["value"] = [_selected(r, select) for r in page]
        if offset + size < len(rows):
            body["@odata.nextLink"] = _next_link(request, offset + size)
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if preferred else {}
        return _odata(body, headers=headers)

    def _journal_lines(self, rows: list[Record], target: _Target, comparisons: list[Comparison]) -> list[Record]:
        # Journal lines are only readable within one journal batch: through the journal's path or
        # with a journal filter (the standard API page errors otherwise).
        if target.journal_id is not None:
            return [r for r in rows if r.get("journalId") == target.journal_id]
        if not any(c.field in ("journalId", "journalDisplayName") and c.op == "eq" for c in comparisons):
            raise _error(400, "Application_DialogException", _JOURNAL_FILTER_MISSING)
        return rows

    def entity_response(self, target: _Target, record: Record, base: str, select: list[str] | None) -> Response:
        body = {"@odata.context": f"{base}/$metadata#{target.context}/$entity", **_selected(record, select)}
        return _odata(body, headers={"ETag": str(record["@odata.etag"])})

    # -- writes

    async def patch(self, request: Request, target: _Target, base: str) -> Response:
        entity_set = target.entity_set
        if target.record_id is None:
            raise _error(
                405,
                "BadRequest_MethodNotAllowed",
                f"'PATCH' requests for '{entity_set.name}' of EdmType 'Collection' are not allowed within "
                "Microsoft Dynamics 365 Business Central OData web services.",
            )
        record = self.entity(target)
        if not entity_set.patchable:
            raise _error(405, "BadRequest_MethodNotAllowed", f"'PATCH' is not supported for '{entity_set.name}'.")
        if_match = _if_match(request)
        body = await _body(request)
        self.known(entity_set, list(body))
        values = self._validated(entity_set, record, body)
        self.current(if_match, str(record["@odata.etag"]))
        self._link(entity_set, record, values)
        self.api_write(request, entity_set.entity_type, record, values)
        return self.entity_response(target, record, base, None)

    async def post(self, request: Request, target: _Target, base: str) -> Response:
        """POST on an entity set: a new record, 201 with it, its ETag and Location."""
        entity_set = target.entity_set
        if target.record_id is not None or not entity_set.patchable:
            raise _error(
                405,
                "BadRequest_MethodNotAllowed",
                f"'POST' requests for '{entity_set.name}' of EdmType 'Entity' are not allowed within "
                "Microsoft Dynamics 365 Business Central OData web services.",
            )
        body = await _body(request)
        self.known(entity_set, list(body))
        journal = self._journal_of(target, body) if entity_set.entity_type == "payment" else None
        values = self._validated(entity_set, {}, body)
        if entity_set.links and not {"customerId", "customerNumber"} & values.keys():
            # Our guess: BC's messages for a document without a customer vary by document.
            raise _dialog(f'The "customerNumber" or "customerId" must be specified to create a {entity_set.caption}.')
        record = self.new_record(entity_set.entity_type, {})
        record.update(self._create_defaults(entity_set, record, values, journal))
        self._link(entity_set, record, values)
        record.update(values)
        self._copy_customer(entity_set, record, values)
        self.api_create(request, entity_set.entity_type, record)
        response = self.entity_response(target, record, base, None)
        response.status_code = 201
        response.headers["Location"] = f"{base}/{target.context}({record['id']})"
        return response

    def _journal_of(self, target: _Target, body: dict[str, Any]) -> Record:
        """The journal batch a new payment goes in: the path's, or ``journalId`` in the body of a
        flat ``customerPayments`` POST (the only time the page takes it). The messages are ours."""
        given = body.pop("journalId", None)
        journal_id = target.journal_id
        if given is not None:
            if not isinstance(given, str) or not _GUID.fullmatch(given):
                raise _error(
                    400, "BadRequest", f"Cannot convert the literal '{given}' to the expected type 'Edm.Guid'."
                )
            if journal_id is not None and given.lower() != journal_id:
                raise _dialog("The Journal Id cannot be changed.")
            journal_id = given.lower()
        if journal_id is None:
            raise _dialog("You must specify a journal batch ID or a journal ID to create a journal line.")
        journal = self.record("journal", journal_id)
        if journal is None:
            raise _dialog('The "journalId" does not match to a Gen. Journal Batch.')
        return journal

    def _create_defaults(
        self, entity_set: _EntitySet, record: Record, values: Mapping[str, Any], journal: Record | None
    ) -> dict[str, Any]:
        """What BC fills in on insert: the work date, a draft status, the journal line's place."""
        today = self.clock.datetime().date().isoformat()
        props = entity_set.props
        defaults: dict[str, Any] = {
            name: today for name in ("orderDate", "invoiceDate", "postingDate", "dueDate") if name in props
        }
        if "status" in props and entity_set.entity_type in ("contract", "invoice"):
            defaults["status"] = "Draft"
        if journal is not None:
            lines = [
                r.get("lineNumber", 0) for r in self.records["payment"].values() if r.get("journalId") == journal["id"]
            ]
            defaults.update(
                journalId=journal["id"],
                journalDisplayName=journal["code"],
                lineNumber=max(lines, default=0) + 10000,
            )
        return defaults

    def _copy_customer(self, entity_set: _EntitySet, record: Record, values: Mapping[str, Any]) -> None:
        """A new document takes its bill-to customer and currency from the sell-to customer."""
        if entity_set.entity_type not in ("contract", "invoice"):
            return
        customer = self.record("customer", str(record.get("customerId"))) or {}
        copies = {
            "billToCustomerId": customer.get("id"),
            "billToCustomerNumber": customer.get("number"),
            "billToName": customer.get("displayName"),
            "shipToName": customer.get("displayName"),
            "currencyCode": customer.get("currencyCode"),
        }
        for name, value in copies.items():
            if name in record and name not in values and value is not None:
                record[name] = value

    async def delete(self, request: Request, target: _Target) -> Response:
        """DELETE of one entity with ``If-Match``, refused where BC's tables refuse it."""
        entity_set = target.entity_set
        if target.record_id is None or not entity_set.patchable:
            raise _error(
                405,
                "BadRequest_MethodNotAllowed",
                f"'DELETE' requests for '{entity_set.name}' are not allowed within Microsoft Dynamics 365 "
                "Business Central OData web services.",
            )
        record = self.entity(target)
        if_match = _if_match(request)
        self.current(if_match, str(record["@odata.etag"]))
        self._deletable(entity_set, record)
        self.api_delete(request, entity_set.entity_type, record)
        return Response(status_code=204, headers={"OData-Version": "4.0"})

    def _deletable(self, entity_set: _EntitySet, record: Record) -> None:
        """Raise BC's error when its table triggers would refuse the delete."""
        # A posted invoice: the API deletes the Sales Invoice Header, whose OnDelete checks "Allow
        # Document Deletion Before" (codeunit 363 "PostSales-Delete", DocumentDeletionErr).
        if (
            entity_set.entity_type == "invoice"
            and record.get("status") not in _UNPOSTED
            and str(record.get("postingDate")) >= ALLOW_DOCUMENT_DELETION_BEFORE
        ):
            cutoff = date.fromisoformat(ALLOW_DOCUMENT_DELETION_BEFORE).strftime("%m/%d/%y")
            raise _dialog(
                f"You cannot delete posted sales documents that are posted after {cutoff}. The date is "
                "defined by the Allow Document Deletion Before field in the Sales & Receivables Setup window."
            )
        if entity_set.entity_type == "contract" and any(
            i.get("orderId") == record["id"] for i in self.records["invoice"].values()
        ):
            # Our guess: BC's order deletion checks posted quantities; the emulator has no lines.
            raise _dialog(f"You cannot delete Sales Order {record.get('number')} because it has been invoiced.")
        if entity_set.entity_type == "customer":
            self._customer_deletable(record)

    def _customer_deletable(self, customer: Record) -> None:
        # Customer.OnDelete: MoveEntries.MoveCustEntries first (ledger entries in an open fiscal
        # year, codeunit 361 Text000), then outstanding sales documents (table 18 Text000).
        number = customer.get("number")
        mine = [
            (kind, r)
            for kind in ("contract", "invoice")
            for r in self.records[kind].values()
            if r.get("customerId") == customer["id"]
        ]
        if any(kind == "invoice" and r.get("status") not in _UNPOSTED for kind, r in mine):
            raise _dialog(
                f"You cannot delete Customer {number} because it has ledger entries in a fiscal year that has "
                "not been closed yet."
            )
        for kind, _ in mine:
            document = "Order" if kind == "contract" else "Invoice"
            raise _dialog(
                f"You cannot delete Customer {number} because there is at least one outstanding Sales {document} "
                "for this customer."
            )

    def current(self, if_match: str, etag: str) -> None:
        """Refuse a write whose ``If-Match`` names an older version."""
        if if_match != "*" and if_match != etag:
            # ODataConflictException: 409 by default, 412 when configured (clients accept both).
            raise _error(self.settings.conflict_status, "Request_EntityChanged", ENTITY_CHANGED)

    def _validated(self, entity_set: _EntitySet, record: Record, body: dict[str, Any]) -> dict[str, Any]:
        writable = entity_set.writable()
        for name in entity_set.fixed() & body.keys():
            # Sending a read-only field back unchanged is harmless (clients PATCH what they read).
            if body[name] == record.get(name):
                continue
            if name == "number" and entity_set.number_series:
                raise _error(
                    400,
                    "Application_DialogException",
                    "You may not enter numbers manually. If you want to enter numbers manually, please "
                    f"activate Manual Nos. in No. Series {entity_set.number_series}.",
                )
            raise _error(400, "BadRequest_InvalidOperation", f"Control '{name}' is read-only.")
        clean, invalid = coerce_fields({k: v for k, v in body.items() if k in writable}, writable, nullable=False)
        for problem in invalid:
            # An enum member is read by the OData layer like any literal: an unknown one (or a
            # caption such as "In Review" instead of In_x0020_Review) fails the same way.
            prop = entity_set.props[problem.field]
            expected = f"Microsoft.NAV.{prop.type}" if prop.is_enum else prop.type
            raise _error(
                400,
                "BadRequest",
                f"Cannot convert the literal '{_literal_of(problem)}' to the expected type '{expected}'.",
            )
        for name, value in clean.items():
            _fits(value, entity_set.props[name])
        return clean

    def _link(self, entity_set: _EntitySet, record: Record, values: dict[str, Any]) -> None:
        """Resolve id/number reference pairs both ways, as BC's API pages do."""
        for link in entity_set.links:
            if link.id_field not in values and link.number_field not in values:
                continue
            by_id, by_number = values.get(link.id_field), values.get(link.number_field)
            if by_id == _EMPTY_GUID or by_number == "":
                target: Record | None = {"id": _EMPTY_GUID, "number": ""}
            else:
                target = None
                if by_id is not None:
                    target = self.record(link.entity_type, by_id)
                    if target is None:
                        raise _dialog(f'The "{link.id_field}" does not match to a {link.caption}.')
                if by_number is not None:
                    named = next(
                        (r for r in self.records[link.entity_type].values() if r.get("number") == by_number), None
                    )
                    if named is None:
                        raise _dialog(f'The "{link.number_field}" does not match to a {link.caption}.')
                    if target is not None and named is not target:
                        raise _dialog(f"The {link.caption.lower()} values do not match to a specific {link.caption}.")
                    target = named
            assert target is not None
            values[link.id_field], values[link.number_field] = target["id"], target["number"]
            for mine, theirs in link.copies.items():
                if mine in record:
                    values[mine] = target.get(theirs, "")


def _fits(value: Any, prop: Property) -> None:
    """Refuse text longer than the property's ``MaxLength``."""
    limit = prop.max_length
    if limit is not None and isinstance(value, str) and len(value) > limit:
        # NavNCLStringLengthExceededException, as Microsoft's "Troubleshooting REST API/OData
        # calls" (dynamics-error-codes) lists it: 400 Application_StringExceededLength.
        raise _error(
            400,
            "Application_StringExceededLength",
            f"The length of the string is {len(value)}, but it must be less than or equal to {limit} "
            f"characters. Value: {value}",
        )


def _if_match(request: Request) -> str:
    """The write's ``If-Match``: required, an ETag or ``*``."""
    if_match = (request.headers.get("if-match") or "").strip()
    if not _IF_MATCH.fullmatch(if_match):
        raise _error(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a "
            "valid token in the client request.",
        )
    return if_match


async def _body(request: Request) -> dict[str, Any]:
    """A write's JSON object, without the annotations clients echo back (OData ignores them)."""
    try:
        body = await json_object(request)
    except BodyError as exc:
        raise _error(400, "BadRequest", f"Invalid request body: {exc}") from exc
    return {k: v for k, v in body.items() if not k.startswith("@")}


def _not_found_segment(segment: str) -> EmulatorError:
    # ODataResourceNotFoundException (Microsoft's dynamics-error-codes table): a segment naming
    # an entity set, or a key, that does not exist.
    return _error(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{segment}'.")


def _dialog(message: str) -> EmulatorError:
    return _error(400, "Application_DialogException", message)


def _record_not_found(entity_set: _EntitySet, record_id: str) -> EmulatorError:
    # A key segment naming no record is a segment the OData layer cannot resolve.
    return _not_found_segment(entity_set.name)


def _status_code(status: int) -> str:
    codes = {429: "Application_TooManyRequests", 500: "Internal_ServerError"}
    return codes.get(status, HTTPStatus(status).phrase.replace(" ", ""))


def _status_message(status: int) -> str:
    if status == 429:
        return "Too many requests reached."
    return HTTPStatus(status).description or HTTPStatus(status).phrase


def _selected(record: Record, select: list[str] | None) -> Record:
    if select is None:
        return record
    return {"@odata.etag": record["@odata.etag"], **{name: record.get(name) for name in select}}


def _next_link(request: Request, offset: int) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "$skiptoken"]
    items.append(("$skiptoken", str(offset)))
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(39) + '$(),:-.')}" for k, v in items)
    return str(request.url.replace(query=query))


# --------------------------------------------------------------------------------------- rate limits


class _UserLimitsMiddleware:
    """BC's per-user limits: a sliding request window, 5 requests at a time and a bounded queue."""

    def __init__(self, app: ASGIApp, *, core: DynamicsEmulator) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.core.tokens.client_of(scope) if scope["type"] == "http" else None
        if client is None or not scope["path"].startswith("/v2.0/"):
            await self.app(scope, receive, send)
            return
        load = self.core.load(client)
        if not self.core.admit(load):
            # BC documents Retry-After only for 502/503; a 429 just says to back off.
            await _error_response(429, _status_code(429), _status_message(429))(scope, receive, send)
            return
        gate = load.gate
        assert gate is not None
        load.active += 1
        try:
            async with gate:
                await self.app(scope, receive, send)
        finally:
            load.active -= 1


# ---------------------------------------------------------------------------------------------- app


def _router(core: DynamicsEmulator) -> APIRouter:
    router = APIRouter()

    @router.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        params = await token_request_params(request)
        if tenant.lower() != core.tenant.lower():
            raise _entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if params.get("grant_type") != "client_credentials":
            raise _entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = params.get("client_id", "")
        if client_id not in core.clients:
            raise _entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if core.clients[client_id] != params.get("client_secret"):
            raise _entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if params.get("scope") != SCOPE:
            raise _entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {params.get('scope', '')} is not valid. This emulator issues "
                f"tokens for {SCOPE} only.",
            )
        ttl = core.settings.token_ttl_seconds
        issued = core.tokens.issue(client_id, ttl, audience=core.tenant.lower())
        return JSONResponse(
            {"token_type": "Bearer", "expires_in": int(ttl), "ext_expires_in": int(ttl), "access_token": issued.value}
        )

    @router.post("/_control/subscriptions/{subscription_id}/expire")
    async def expire(subscription_id: str) -> Response:
        # Time passing for one subscription: it lapses now, as if three days had gone by unrenewed.
        sub = core.subscriptions.get(subscription_id)
        if sub is None:
            return JSONResponse({"detail": f"no subscription {subscription_id}"}, status_code=404)
        sub.expires_at = core.clock.now() - 0.001
        return JSONResponse({"expired": subscription_id})

    @router.api_route(
        "/v2.0/{tenant}/{environment}/api/v2.0/{odata_path:path}",
        methods=["GET", "PATCH", "POST", "PUT", "DELETE"],
    )
    async def odata(tenant: str, environment: str, odata_path: str, request: Request) -> Response:
        core.authorize(request, tenant)
        if environment != core.environment:
            raise _error(404, "BadRequest_NotFound", f"Environment '{environment}' was not found.")
        base = str(request.base_url).rstrip("/") + f"/v2.0/{tenant}/{environment}/api/v2.0"
        subscriptions = _SUBSCRIPTION_PATH.fullmatch(odata_path)
        if subscriptions is not None:
            return await core.subscription_request(request, subscriptions.group("key"), base)
        target = core.target(odata_path)
        if request.method not in ("GET", "PATCH", "POST", "DELETE"):
            raise _error(
                405,
                "BadRequest_MethodNotAllowed",
                f"'{request.method}' requests are not supported by the Business Central emulator.",
            )
        if target is None:
            if request.method != "GET":
                raise _error(405, "BadRequest_MethodNotAllowed", "The companies set is read-only.")
            return _odata({"@odata.context": f"{base}/$metadata#companies", "value": [_company(core)]})
        if request.method == "PATCH":
            return await core.patch(request, target, base)
        if request.method == "POST":
            return await core.post(request, target, base)
        if request.method == "DELETE":
            return await core.delete(request, target)
        if target.record_id is None:
            return core.collection(request, target, base)
        select = request.query_params.get("$select")
        try:
            names = parse_select(select) if select else None
        except ODataError as exc:
            raise _error(400, "BadRequest", str(exc)) from exc
        core.known(target.entity_set, names or [])
        return core.entity_response(target, core.entity(target), base, names)

    return router


def _subscription_response(sub: Subscription, base: str, *, status: int = 200) -> Response:
    body = {"@odata.context": f"{base}/$metadata#subscriptions/$entity", **sub.record()}
    return _odata(body, status=status, headers={"ETag": sub.etag})


def _valid_url(value: str) -> None:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise _error(400, "BadRequest", f"The notification URL '{value}' is not a valid absolute URL.")


def _company(core: DynamicsEmulator) -> Record:
    return metadata.whole(
        "company",
        {
            "id": COMPANY_ID,
            "systemVersion": "26.0.0.0",
            "name": demo_data.COMPANY_NAME,
            "displayName": demo_data.COMPANY_NAME,
            "businessProfileId": "",
            "systemCreatedAt": "2025-01-05T06:00:00Z",
            "systemCreatedBy": _EMPTY_GUID,
            "systemModifiedAt": "2025-01-05T06:00:00Z",
            "systemModifiedBy": _EMPTY_GUID,
        },
    )


def _http_error(request: Request, status: int, detail: str) -> Response:
    if status == 404:
        segment = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        return _error_response(404, "BadRequest_ResourceNotFound", f"Resource not found for the segment '{segment}'.")
    if status == 405:
        return _error_response(405, "BadRequest_MethodNotAllowed", f"'{request.method}' is not allowed here.")
    return _error_response(status, "BadRequest", detail)


def create_dynamics_app(
    *,
    conflict_status: Literal[409, 412] = 409,
    token_ttl_seconds: float = 3599.0,
    clients: Mapping[str, str] | None = None,
    tenant: str = DEFAULT_TENANT,
    environment: str = DEFAULT_ENVIRONMENT,
    requests_per_window: int = 6000,
    window_seconds: float = 300.0,
    max_concurrent: int = 5,
    max_queue: int = 95,
    max_page_size: int = 20000,
    webhooks: DynamicsWebhookSettings | None = None,
) -> FastAPI:
    """A fresh, isolated Business Central emulator seeded with the demo data.

    API base: ``/v2.0/{tenant}/{environment}/api/v2.0/companies({COMPANY_ID})``; tokens from
    ``POST /{tenant}/oauth2/v2.0/token`` with ``scope=SCOPE``; webhook subscriptions at
    ``/v2.0/{tenant}/{environment}/api/v2.0/subscriptions``, their timings and faults from
    ``webhooks`` (kept across resets). The state object is
    ``app.state.core`` (a ``DynamicsEmulator``).
    """
    settings = DynamicsSettings(
        token_ttl_seconds=token_ttl_seconds,
        conflict_status=conflict_status,
        requests_per_window=requests_per_window,
        window_seconds=window_seconds,
        max_concurrent=max_concurrent,
        max_queue=max_queue,
        max_page_size=max_page_size,
        webhooks=webhooks or DynamicsWebhookSettings(),
    )
    core = DynamicsEmulator(settings, clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}, tenant, environment)
    return build_app(
        core,
        _router(core),
        title="Business Central emulator",
        http_error=_http_error,
        outer_middleware=[(_UserLimitsMiddleware, {"core": core})],
    )
