"""Procore REST v1.0 emulator, seeded with ``platforms.procore.demo_data``.

Faithful to Procore's published REST v1.0 documentation (developers.procore.com) and the endpoint
schemas in ``platforms/procore/schemas/``: DMSA client-credentials
tokens that expire, the ``Procore-Company-Id`` header on every call, ``page``/``per_page`` with
``Link``/``Total``/``Per-Page`` headers, ``filters[...]``, an hourly plus a 10-second spike rate
window reported in ``X-Rate-Limit-*`` headers on every response, last-writer-wins PATCH (no ETags)
that moves ``updated_at``, records locked by ``origin_id``, and error bodies in the several shapes
Procore really uses. What is simplified is listed in docs/emulators.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators import procore_hooks
from emulators.common import (
    BodyError,
    Choice,
    EmulatorCore,
    EmulatorError,
    FaultSpec,
    FieldType,
    FixedWindow,
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
    retry_after_seconds,
    token_request_params,
)
from emulators.procore_hooks import Hook, Hooks, ProcoreWebhookSettings
from platforms.procore import demo_data, openapi

DEFAULT_CLIENT_ID: Final = "structural-procore-client"
DEFAULT_CLIENT_SECRET: Final = "structural-procore-secret"
COMPANY_ID: Final = demo_data.COMPANY_ID
MISSING_COMPANY_HEADER: Final = "Missing Procore-Company-Id header!"
# The legacy 429 text (platform-apis.md §2.6); the current docs show no body.
RATE_LIMITED: Final = "You have surpassed the max number of requests for an hour. Please wait until your limit resets."
_API: Final = "/rest/v1.0"


class ProcoreRateLimit(BaseModel):
    """Requests per DMSA client: an hourly window and a short spike window, both fixed windows."""

    model_config = ConfigDict(extra="forbid")

    hourly: int = Field(3600, ge=1, description="requests per hourly window (legacy default 3,600)")
    spike: int = Field(100, ge=1, description="requests per spike window (Procore's docs show 25)")
    hourly_seconds: float = Field(3600.0, gt=0)
    spike_seconds: float = Field(10.0, gt=0)
    retry_after_on_429: bool = Field(True, description="send Retry-After with 429 (the docs disagree)")


class ProcoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token_ttl_seconds: float = Field(5400.0, gt=0)
    rate_limit: ProcoreRateLimit = Field(default_factory=ProcoreRateLimit)
    default_per_page: int = Field(100, ge=1)
    computed_fields_writable: bool = Field(
        False,
        description="apply writes to totals Procore computes from line items (grand_total, "
        "total_claimed_amount) instead of dropping them as Procore does; line items are not "
        "emulated, so this is the only way to change them over the API (tests of what such a "
        "change does elsewhere)",
    )
    ignored_fields: list[str] = Field(
        default_factory=list,
        description="fault control: writable fields a PATCH accepts with 200 and silently does not apply "
        "(what Procore does with a parameter it does not permit); shows that a 2xx is not taken as proof",
    )
    webhooks: ProcoreWebhookSettings = Field(default_factory=ProcoreWebhookSettings)


# ------------------------------------------------------------------------------------------ resources

_ORIGIN: Final[dict[str, FieldType]] = {
    "origin_id": Kind.LOOSE_TEXT,
    "origin_code": Kind.TEXT,
    "origin_data": Kind.TEXT,
}
_ORIGIN_NO_CODE: Final = {k: v for k, v in _ORIGIN.items() if k != "origin_code"}
_ADDRESS: Final[dict[str, FieldType]] = {
    "address": Kind.TEXT,
    "city": Kind.TEXT,
    "state_code": Kind.TEXT,
    "country_code": Kind.TEXT,
    "zip": Kind.LOOSE_TEXT,
}
_COMMITMENT: Final[dict[str, FieldType]] = {
    "number": Kind.LOOSE_TEXT,
    "title": Kind.TEXT,
    "description": Kind.TEXT,
    "executed": Kind.BOOL,
    "private": Kind.BOOL,
    "accounting_method": Choice(("amount", "unit")),
    "retainage_percent": Kind.DECIMAL_TEXT,
    "contract_date": Kind.DATE,
    "contract_start_date": Kind.DATE,
    "contract_estimated_completion_date": Kind.DATE,
    "execution_date": Kind.DATE,
    "vendor_id": Kind.INT,
    **_ORIGIN,
}
# Purchase orders have no start or estimated completion dates (RestV10PurchaseOrderContractsIdPatch).
_PURCHASE_ORDER: Final = {
    **{k: v for k, v in _COMMITMENT.items() if k not in ("contract_start_date", "contract_estimated_completion_date")},
    "delivery_date": Kind.DATE,
    "payment_terms": Kind.TEXT,
    "ship_via": Kind.TEXT,
}


@dataclass(frozen=True)
class _Resource:
    """One v1.0 resource: its URL segment, the demo entity type behind it and its writable fields."""

    path: str
    entity_type: str
    model: str  # the Rails model, as in "Couldn't find Requisition with 'id'=1"
    body_key: str | None  # the write body's wrapper key; None: read-only resource
    fields: Mapping[str, FieldType] = field(default_factory=dict)
    computed: Mapping[str, FieldType] = field(default_factory=dict)
    project_scoped: bool = True
    commitment_type: str | None = None  # the two commitment resources share the contract records
    query_filters: tuple[str, ...] = ()  # plain query parameters that filter the list
    locked_noun: str | None = None  # set: editing a record carrying an origin_id gives 422

    def writable(self, settings: ProcoreSettings) -> Mapping[str, FieldType]:
        return {**self.fields, **self.computed} if settings.computed_fields_writable else self.fields

    def holds(self, record: Record) -> bool:
        return self.commitment_type is None or record.get("type") == self.commitment_type


RESOURCES: Final = MappingProxyType(
    {
        r.path: r
        for r in (
            _Resource(
                "projects",
                "project",
                "Project",
                "project",
                {
                    "name": Kind.TEXT,
                    "project_number": Kind.LOOSE_TEXT,
                    "description": Kind.TEXT,
                    "active": Kind.BOOL,
                    "start_date": Kind.DATE,
                    "completion_date": Kind.DATE,
                    **_ADDRESS,
                    **_ORIGIN,
                },
                project_scoped=False,
            ),
            _Resource(
                "vendors",
                "customer",
                "Vendor",
                "vendor",
                {
                    "name": Kind.TEXT,
                    "trade_name": Kind.TEXT,
                    "abbreviated_name": Kind.TEXT,
                    "is_active": Kind.BOOL,
                    "email_address": Kind.TEXT,
                    "business_phone": Kind.TEXT,
                    "mobile_phone": Kind.TEXT,
                    "fax_number": Kind.TEXT,
                    "website": Kind.TEXT,
                    "license_number": Kind.TEXT,
                    "notes": Kind.TEXT,
                    **_ADDRESS,
                    **_ORIGIN,
                },
                project_scoped=False,
            ),
            _Resource(
                "work_order_contracts",
                "contract",
                "WorkOrderContract",
                "work_order_contract",
                {
                    **_COMMITMENT,
                    "status": Choice(
                        ("Draft", "Out For Bid", "Out For Signature", "Approved", "Complete", "Terminated", "Void")
                    ),
                },
                {"grand_total": Kind.DECIMAL_TEXT},
                commitment_type=demo_data.WORK_ORDER,
            ),
            _Resource(
                "purchase_order_contracts",
                "contract",
                "PurchaseOrderContract",
                "purchase_order_contract",
                {
                    **_PURCHASE_ORDER,
                    "status": Choice(
                        ("Draft", "Processing", "Submitted", "Partially Received", "Received", "Approved", "Closed")
                    ),
                },
                {"grand_total": Kind.DECIMAL_TEXT},
                commitment_type=demo_data.PURCHASE_ORDER,
            ),
            # The read-only union of both commitment kinds; each record carries its `type`.
            _Resource("commitments", "contract", "Commitment", None),
            _Resource(
                "requisitions",
                "invoice",
                "Requisition",
                "requisition",
                {
                    # The request takes an integer invoice number; the response returns a string.
                    "invoice_number": Kind.LOOSE_TEXT,
                    "status": Choice(
                        (
                            "draft",
                            "under_review",
                            "revise_and_resubmit",
                            "approved",
                            "approved_as_noted",
                            "pending_owner_approval",
                        )
                    ),
                    "period_id": Kind.INT,
                    "billing_date": Kind.DATE,
                    "requisition_start": Kind.DATE,
                    "requisition_end": Kind.DATE,
                    "payment_date": Kind.DATE,
                    "final": Kind.BOOL,
                    "comment": Kind.TEXT,
                    "submitted_at": Kind.TEXT,
                    **_ORIGIN_NO_CODE,
                },
                {"total_claimed_amount": Kind.DECIMAL_TEXT},
                locked_noun="invoice",
            ),
            _Resource(
                "contract_payments",
                "payment",
                "ContractPayment",
                "contract_payment",
                {
                    "amount": Kind.DECIMAL_TEXT,
                    "date": Kind.DATE,
                    "check_number": Kind.LOOSE_TEXT,
                    "invoice_number": Kind.LOOSE_TEXT,
                    "invoice_date": Kind.DATE,
                    "payment_number": Kind.INT,
                    "draw_request_number": Kind.INT,
                    # Write-only: the payment's responses do not carry it.
                    "payment_method": Choice(("check", "credit_card", "electronic")),
                    "notes": Kind.TEXT,
                    "requisition_id": Kind.INT,
                    **_ORIGIN_NO_CODE,
                },
                query_filters=("contract_id",),
                locked_noun="payment",
            ),
        )
    }
)

# Rails' validation messages, per expected type.
_MESSAGES: Final[Mapping[FieldType, str]] = {
    Kind.DECIMAL_TEXT: "is not a number",
    Kind.INT: "is not a number",
    Kind.DATE: "is not a valid date",
    Kind.BOOL: "must be true or false",
}


#: The write log's operations as Procore names its event types.
_EVENT_TYPES: Final[Mapping[Operation, str]] = {"create": "create", "update": "update", "delete": "delete"}

#: The attributes a record of each type is stored with (the demo data's shapes plus the origin
#: fields): a new record has all of them, null where nothing was given.
_DEMO: Final = demo_data.demo_records()
_TEMPLATES: Final[Mapping[str, tuple[str, ...]]] = {
    "project": (*_DEMO["project"][0], "origin_data"),
    "customer": (*_DEMO["customer"][0], "origin_data"),
    "contract": (*_DEMO["contract"][0], "origin_code", "origin_data"),
    "invoice": (*_DEMO["invoice"][0], "origin_data"),
    "payment": (*_DEMO["payment"][0], "origin_id", "origin_data"),
}

#: What an out-of-band record must name to be found at all: its project (and parent commitment).
_IDENTITY: Final[Mapping[str, tuple[str, ...]]] = {
    "contract": ("project",),
    "invoice": ("project_id", "commitment_id"),
    "payment": ("project_id", "contract_id"),
}

#: Attributes a create needs although the published schema does not mark them required: a
#: payment without an amount or a date is meaningless, and Procore's form refuses one (our guess).
_CREATE_REQUIRED_GUESSED: Final[Mapping[str, tuple[str, ...]]] = {"contract_payments": ("amount", "date")}


@cache
def _wrapper_required(template: str) -> tuple[str, ...]:
    """The attributes the published POST schema marks required inside its wrapper object
    (``vendor.name``); ``platforms.procore.openapi`` reads only the top-level ones."""
    for path in sorted(openapi.SCHEMAS.glob("*Post.json")):
        spec = json.loads(path.read_text())
        if spec.get("method") != "POST" or spec.get("path") != template:
            continue
        properties = ((spec.get("requestBody") or {}).get("schema") or {}).get("properties") or {}
        wrappers = [v for v in properties.values() if v.get("type") == "object"]
        return tuple(wrappers[0].get("required") or ()) if wrappers else ()
    return ()


def _is_deleted(record: Record) -> bool:
    return record.get("deleted_at") not in (None, "")


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1", "yes")


def _project_id_of(record: Record) -> Any:
    project = record.get("project")
    return project.get("id") if isinstance(project, dict) else record.get("project_id")


def _error(status: int, body: Any) -> EmulatorError:
    return EmulatorError(JSONResponse(body, status_code=status))


def _not_found(detail: str) -> EmulatorError:
    return _error(404, {"message": "Not Found", "error": detail})


def _int_param(text: str | None, default: int) -> int:
    # Procore falls back to its defaults for a missing or unusable page/per_page.
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    return value if value >= 1 else default


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # Procore prints timestamps to the second


# --------------------------------------------------------------------------------------------- state


class ProcoreEmulator(EmulatorCore[ProcoreSettings]):
    def __init__(self, settings: ProcoreSettings, clients: Mapping[str, str], company_id: int) -> None:
        self.clients = dict(clients)
        self.company_id = company_id
        self._windows: dict[str, tuple[FixedWindow, FixedWindow]] = {}
        super().__init__(demo_data.demo_records, settings)

    def bump_version(self, entity_type: str, record: Record) -> str:
        record["updated_at"] = monotonic_stamp(self.clock.datetime(), record.get("updated_at"), 1.0, _stamp)
        record.setdefault("created_at", record["updated_at"])
        if record["created_at"] is None:
            record["created_at"] = record["updated_at"]
        return str(record["updated_at"])

    def version_of(self, record: Record) -> str:
        return str(record.get("updated_at"))

    def next_id(self, entity_type: str) -> int:
        """A new record id: above every id the type has had in this instance (never reused)."""
        highest = max((int(k) for k in self.records.get(entity_type, {})), default=0)
        self._last_ids[entity_type] = max(self._last_ids.get(entity_type, 0), highest) + 1
        return self._last_ids[entity_type]

    # -- creates and deletes

    def new_record(self, entity_type: str, fields: Mapping[str, Any]) -> Record:
        if entity_type not in _TEMPLATES:
            raise ValueError(f"records of type {entity_type!r} cannot be created here")
        values = dict(fields)
        if entity_type == "contract":
            if values.get("type") not in (demo_data.WORK_ORDER, demo_data.PURCHASE_ORDER):
                raise ValueError(
                    f"a contract needs its 'type': {demo_data.WORK_ORDER!r} or {demo_data.PURCHASE_ORDER!r}"
                )
            # The commitment's project is what scopes it; it may be given as an id.
            if "project_id" in values:
                project = self.record("project", str(values.pop("project_id"))) or {}
                values["project"] = {"id": project.get("id"), "name": project.get("name")}
        missing = [name for name in _IDENTITY.get(entity_type, ()) if values.get(name) in (None, "")]
        if missing:
            raise ValueError(f"a new {entity_type} needs {', '.join(missing)}")
        record = {**{name: None for name in _TEMPLATES[entity_type]}, **values}
        record["id"] = self.next_id(entity_type)
        record["created_at"] = None
        return record

    def discard(
        self, entity_type: str, record: Record, *, source: Literal["api", "control"], method: str, path: str,
        client_id: str | None = None,
    ) -> WriteEntry:
        if entity_type != "contract":
            return self.remove(entity_type, record, source=source, method=method, path=path, client_id=client_id)
        # Commitments go to the recycle bin: still there, with deleted_at, for filters[include_deleted].
        entry = self.apply(
            entity_type,
            record,
            {"deleted_at": _stamp(self.clock.datetime())},
            source=source,
            method=method,
            path=path,
            force=True,
            client_id=client_id,
            operation="delete",
        )
        assert entry is not None  # force=True always writes
        return entry

    # -- webhooks

    @cached_property
    def hooks(self) -> Hooks:
        # Made on first use: reset() (run by EmulatorCore.__init__) is the first, after the outbox.
        hooks = Hooks(self.outbox, lambda: self.settings.webhooks, self.clock.now)
        self.outbox.policy = hooks
        return hooks

    def reset(self) -> None:
        self._last_ids: dict[str, int] = {}
        super().reset()
        self.hooks.clear()

    def changed(self, entry: WriteEntry, record: Record, client_id: str | None) -> None:
        name = procore_hooks.resource_of(entry.entity_type, record)
        if name is None or not self.hooks.triggers:
            return
        # A project's own events carry its id; the company directory's vendors carry none.
        found = record["id"] if name == "Projects" else None if name == "Company Vendors" else _project_id_of(record)
        project_id = None if found is None else int(found)
        self.hooks.announce(
            resource_name=name,
            resource_id=int(record["id"]),
            company_id=self.company_id,
            project_id=project_id,
            event_type=_EVENT_TYPES[entry.operation],
            user_id=procore_hooks.UI_USER_ID if client_id is None else procore_hooks.service_user_id(client_id),
            application_id=client_id,
        )

    # -- rate limits

    def reset_limits(self) -> None:
        self._windows = {}

    def hit(self, client_id: str) -> tuple[FixedWindow, bool]:
        """Count one request; the window the headers should report and whether it is exceeded."""
        limits = self.settings.rate_limit
        hourly, spike = self._windows.setdefault(
            client_id,
            (FixedWindow(limits.hourly, limits.hourly_seconds), FixedWindow(limits.spike, limits.spike_seconds)),
        )
        now = self.clock.now()
        # Failed and rejected calls count too (platform-apis.md §2.6).
        hourly.hit(now)
        spike.hit(now)
        if hourly.exceeded:
            return hourly, True
        if spike.exceeded:
            return spike, True
        # The headers report whichever window runs out first.
        return (hourly if hourly.remaining < spike.remaining else spike), False

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(math.ceil(reset_at)),
        }

    def rate_limited(self, headers: dict[str, str], reset_at: float, retry_after: int | None) -> Response:
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        elif self.settings.rate_limit.retry_after_on_429:
            headers["Retry-After"] = retry_after_seconds(reset_at, self.clock.now())
        return PlainTextResponse(RATE_LIMITED, status_code=429, headers=headers)

    # -- faults

    def fault_response(self, spec: FaultSpec) -> Response:
        status, retry_after = fault_status(spec)
        if status == 429:
            # An injected 429 looks like the spike window running out.
            seconds = retry_after or self.settings.rate_limit.spike_seconds
            reset_at = self.clock.now() + seconds
            headers = self.rate_headers(self.settings.rate_limit.spike, 0, reset_at)
            return self.rate_limited(headers, reset_at, retry_after)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return JSONResponse({"error": HTTPStatus(status).phrase}, status_code=status, headers=headers)

    # -- request checks

    def authorize(self, request: Request, *, company: bool = True) -> None:
        status, _ = self.tokens.check(request.headers.get("authorization"))
        if status is not TokenStatus.VALID:
            description = {
                TokenStatus.MISSING: "The access token is missing",
                TokenStatus.INVALID: "The access token is invalid",
                TokenStatus.EXPIRED: "The access token expired",
            }[status]
            # Procore's OAuth server is Doorkeeper: RFC 6750 challenge plus an OAuth error body.
            raise EmulatorError(
                JSONResponse(
                    {"error": "invalid_token", "error_description": description},
                    status_code=401,
                    headers={
                        "WWW-Authenticate": f'Bearer realm="Doorkeeper", error="invalid_token", '
                        f'error_description="{description}"'
                    },
                )
            )
        if not company:
            return
        header = request.headers.get("procore-company-id", "").strip()
        if not header:
            raise EmulatorError(PlainTextResponse(MISSING_COMPANY_HEADER, status_code=400))
        if header != str(self.company_id):
            raise _error(403, {"error": "App is not connected to this company"})

    def resource(self, path: str) -> _Resource:
        resource = RESOURCES.get(path)
        if resource is None:
            raise _not_found(f"No route matches {_API}/{path}")
        return resource

    def project(self, project_id: int) -> Record:
        project = self.record("project", str(project_id))
        if project is None:
            raise _not_found(f"Couldn't find Project with 'id'={project_id}")
        return project

    def find(self, resource: _Resource, record_id: str, scope: Mapping[str, Any]) -> Record:
        """The record ``record_id`` of ``resource`` within the identifying ``scope`` the request gave
        (project, contract, commitment, company): a record outside it is not found, as in Procore."""
        record = self.record(resource.entity_type, record_id)
        project_id = scope.get("project_id")
        if (
            record is None
            or not resource.holds(record)
            or _is_deleted(record)
            or (project_id is not None and resource.project_scoped and str(_project_id_of(record)) != str(project_id))
            or any(name in scope and str(record.get(name)) != str(scope[name]) for name in ("contract_id", "commitment_id"))
        ):
            raise _not_found(f"Couldn't find {resource.model} with 'id'={record_id}")
        company_id = scope.get("company_id")
        if company_id is not None and str(company_id) != str(self.company_id):
            raise _error(403, {"error": "App is not connected to this company"})
        return record

    # -- lists

    def listing(self, request: Request, resource: _Resource, project_id: int | None, template: str) -> Response:
        """The resource's list as the route ``template`` (a published endpoint, or not) shows it."""
        rows = [r for r in self.records[resource.entity_type].values() if resource.holds(r)]
        # Deleted commitments sit in the recycle bin: listed only with filters[include_deleted].
        if not _truthy(request.query_params.get("filters[include_deleted]")):
            rows = [r for r in rows if not _is_deleted(r)]
        if resource.project_scoped:
            if project_id is None:
                raise _error(400, {"error": "project_id is missing"})
            self.project(project_id)
            rows = [r for r in rows if _project_id_of(r) == project_id]
        published = openapi.published("GET", template)
        _require(published.query if published else (), request.query_params)
        rows = _filtered(rows, request, resource)
        rows.sort(key=lambda r: int(r["id"]))
        return self.page(request, [_shown(published, row) for row in rows])

    def page(self, request: Request, rows: list[Record]) -> Response:
        per_page = _int_param(request.query_params.get("per_page"), self.settings.default_per_page)
        page = _int_param(request.query_params.get("page"), 1)
        last = max(1, math.ceil(len(rows) / per_page))

        def url(number: int) -> str:
            return str(request.url.include_query_params(page=number, per_page=per_page))

        links = []
        if page > 1:
            links += [("first", 1), ("prev", min(page - 1, last))]
        if page < last:
            links += [("next", page + 1), ("last", last)]
        headers = {"Total": str(len(rows)), "Per-Page": str(per_page)}
        if links:
            headers["Link"] = ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in links)
        return JSONResponse(rows[(page - 1) * per_page : page * per_page], headers=headers)

    # -- writes

    async def update(self, request: Request, resource: _Resource, record_id: str) -> Response:
        if resource.body_key is None:
            raise _not_found(f"No route matches [PATCH] {request.url.path}")
        try:
            body = await json_object(request)
        except BodyError as exc:
            raise _error(400, {"error": str(exc)}) from exc
        published = openapi.published("PATCH", f"{_API}/{resource.path}/{{id}}")
        # The identifying keys go in the body (the PATCH schemas require them there).
        _require(published.body - {resource.body_key} if published else (), body)
        record = self.find(resource, record_id, {**request.query_params, **body})
        payload = body.get(resource.body_key)
        if not isinstance(payload, dict):
            raise _error(400, {"error": f"param is missing or the value is empty: {resource.body_key}"})
        if resource.locked_noun and record.get("origin_id") not in (None, ""):
            raise _error(
                422, {"error": f"The {resource.locked_noun} is not editable because it has been synced with ERP"}
            )
        writable = resource.writable(self.settings)
        # Rails strong parameters: unknown and read-only attributes are dropped, not rejected.
        taken = {k: v for k, v in payload.items() if k in writable and k not in self.settings.ignored_fields}
        clean, invalid = coerce_fields(taken, writable, nullable=True)
        if invalid:
            raise _error(422, {"errors": _messages(invalid)})
        self.derive(resource, record, clean)
        self.api_write(request, resource.entity_type, record, clean)
        return JSONResponse(_shown(published, record))

    def derive(self, resource: _Resource, record: Record, values: dict[str, Any]) -> None:
        """Fields Procore computes from the written ones."""
        if resource.entity_type == "project" and ({"name", "project_number"} & values.keys()):
            name = values.get("name", record.get("name"))
            number = values.get("project_number", record.get("project_number"))
            values["display_name"] = f"{number} - {name}" if number else name
        if "vendor_id" in values:
            vendor = self.record("customer", str(values.pop("vendor_id")))
            if vendor is None:
                raise _error(422, {"errors": {"vendor": ["must exist"]}})
            values["vendor"] = {"id": vendor["id"], "company": vendor["name"]}


    async def create_api(self, request: Request, resource: _Resource) -> Response:
        """``POST /rest/v1.0/<resource>``: a new record, as the published ``...Post`` schema says."""
        template = f"{_API}/{resource.path}"
        published = openapi.published("POST", template)
        if published is None or resource.body_key is None:
            raise _not_found(f"No route matches [POST] {request.url.path}")
        try:
            body = await json_object(request)
        except BodyError as exc:
            raise _error(400, {"error": str(exc)}) from exc
        # The scope ids go at the top level beside the wrapper, as the schema requires them.
        _require(published.body - {resource.body_key}, body)
        parent = self._create_scope(resource, body)
        payload = body.get(resource.body_key)
        if not isinstance(payload, dict) or not payload:
            raise _error(400, {"error": f"param is missing or the value is empty: {resource.body_key}"})
        writable = {k: v for k, v in resource.writable(self.settings).items() if k in published.writable}
        # Rails strong parameters: unknown and read-only attributes are dropped, not rejected.
        taken = {k: v for k, v in payload.items() if k in writable and k not in self.settings.ignored_fields}
        required = (*_wrapper_required(template), *_CREATE_REQUIRED_GUESSED.get(resource.path, ()))
        errors: dict[str, list[str]] = {
            name: ["can't be blank"] for name in required if taken.get(name) in (None, "")
        }
        clean, invalid = coerce_fields(taken, writable, nullable=True)
        errors.update({k: v for k, v in _messages(invalid).items() if k not in errors})
        if errors:
            raise _error(422, {"errors": errors})
        record = self.new_record(resource.entity_type, self._create_defaults(resource, body, parent, clean))
        self.derive(resource, record, clean)
        if "requisition_id" in clean and clean["requisition_id"] is not None:
            requisition = self.record("invoice", str(clean["requisition_id"]))
            if requisition is None or str(requisition.get("commitment_id")) != str(record.get("contract_id")):
                raise _error(422, {"errors": {"requisition": ["must exist"]}})
        record.update(clean)
        self.api_create(request, resource.entity_type, record)
        shown = openapi.published("GET", f"{_API}/{resource.path}/{{id}}")
        return JSONResponse(_shown(shown, record), status_code=201)

    def _create_scope(self, resource: _Resource, body: Mapping[str, Any]) -> Record | None:
        """Check the create's scope ids: the company (403), the project and the parent commitment
        (404, as a show of them would be). Returns the parent commitment, if the record has one."""
        if not resource.project_scoped:
            if str(body.get("company_id")) != str(self.company_id):
                raise _error(403, {"error": "App is not connected to this company"})
            return None
        project_id = str(body.get("project_id"))
        if not project_id.isdigit():
            raise _not_found(f"Couldn't find Project with 'id'={quote(project_id)}")
        self.project(int(project_id))
        parent_key = {"requisitions": "commitment_id", "contract_payments": "contract_id"}.get(resource.path)
        if parent_key is None:
            return None
        parent_id = str(body.get(parent_key))
        parent = self.record("contract", parent_id)
        if parent is None or _is_deleted(parent) or str(_project_id_of(parent)) != project_id:
            raise _not_found(f"Couldn't find Commitment with 'id'={quote(parent_id)}")
        return parent

    def _create_defaults(
        self, resource: _Resource, body: Mapping[str, Any], parent: Record | None, clean: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What Procore fills in on a new record besides the attributes sent."""
        if resource.entity_type == "customer":
            return {"is_active": True}
        project = self.record("project", str(body.get("project_id"))) or {}
        if resource.entity_type == "contract":
            return {
                "type": resource.commitment_type,
                "status": "Draft",
                "executed": False,
                "private": False,
                "accounting_method": "amount",
                "retainage_percent": "0.0",
                "grand_total": "0.0",
                "project": {"id": project.get("id"), "name": project.get("name")},
                "vendor": None,
                "currency_configuration": {"currency_iso_code": "USD"},
            }
        assert parent is not None
        if resource.entity_type == "invoice":
            numbers = [
                int(r["number"])
                for r in self.records["invoice"].values()
                if r.get("commitment_id") == parent["id"] and isinstance(r.get("number"), int)
            ]
            vendor = parent.get("vendor") if isinstance(parent.get("vendor"), dict) else {}
            return {
                "number": max(numbers, default=0) + 1,
                "commitment_id": parent["id"],
                "commitment_type": parent.get("type"),
                "contract_name": parent.get("title"),
                "project_id": project.get("id"),
                "vendor_name": (vendor or {}).get("company"),
                "status": "draft",
                "final": False,
                "percent_complete": "0.00%",
                "total_claimed_amount": "0.0",
                "currency_configuration": parent.get("currency_configuration"),
            }
        return {"contract_id": parent["id"], "project_id": project.get("id"), "status": "pending"}

    async def delete_api(self, request: Request, resource: _Resource, record_id: str) -> Response:
        """``DELETE /rest/v1.0/<resource>/{id}`` where Procore publishes one, with its finance rules."""
        published = openapi.published("DELETE", f"{_API}/{resource.path}/{{id}}")
        if published is None:
            raise _not_found(f"No route matches [DELETE] {request.url.path}")
        _require(published.query, request.query_params)
        record = self.find(resource, record_id, request.query_params)
        refusal = self._delete_refusal(resource, record)
        if refusal is not None:
            raise refusal
        self.api_delete(request, resource.entity_type, record)
        return Response(status_code=200)  # the schemas publish no body

    def _delete_refusal(self, resource: _Resource, record: Record) -> EmulatorError | None:
        """Why Procore would refuse to delete ``record`` (None: it may go). The wording is ours:
        Procore documents the rules (Draft commitments, unapproved invoices), not its messages."""
        record_id = record["id"]
        if resource.entity_type == "contract":
            if record.get("status") != "Draft":
                return _error(422, {"errors": {"base": ["Only a commitment in Draft status can be deleted"]}})
            if any(r.get("commitment_id") == record_id for r in self.records["invoice"].values()) or any(
                p.get("contract_id") == record_id for p in self.records["payment"].values()
            ):
                return _error(
                    422, {"errors": {"base": ["A commitment with invoices or payments cannot be deleted"]}}
                )
            return None
        if resource.locked_noun and record.get("origin_id") not in (None, ""):
            return _error(
                422, {"error": f"The {resource.locked_noun} is not deletable because it has been synced with ERP"}
            )
        if resource.entity_type == "invoice":
            if record.get("status") != "draft":
                return _error(422, {"errors": {"base": ["Only a draft invoice can be deleted"]}})
            if any(p.get("requisition_id") == record_id for p in self.records["payment"].values()):
                return _error(422, {"errors": {"base": ["An invoice with payments cannot be deleted"]}})
        return None


def _require(names: Iterable[str], given: Mapping[str, Any]) -> None:
    """400 for the first parameter the endpoint requires that the request lacks (sorted, so the
    answer does not depend on set order)."""
    for name in sorted(names):
        if given.get(name) in (None, ""):
            raise _error(400, {"error": f"{name} is missing"})


def _shown(published: openapi.Endpoint | None, record: Record) -> Record:
    """The record as the endpoint returns it: exactly its response schema's properties, null when
    the record has no value (Procore sends every attribute of the view). An endpoint whose
    published extract has no response schema shows the record as stored."""
    if published is None or not published.response:
        return record
    return {name: record.get(name) for name in published.response}


def _messages(invalid: list[Invalid]) -> dict[str, list[str]]:
    return {
        problem.field: [
            "is not included in the list"
            if isinstance(problem.expected, Choice)
            else _MESSAGES.get(problem.expected, "is invalid")
        ]
        for problem in invalid
    }


_UNKNOWN: Final = object()  # a filter attribute the resource does not have: the filter is ignored


def _filter_value(record: Record, name: str, resource: _Resource) -> Any:
    if name in record:
        return record[name]
    # filters[vendor_id] on a commitment means its nested vendor.id.
    nested = record.get(name.removesuffix("_id"))
    if name.endswith("_id") and isinstance(nested, dict):
        return nested.get("id")
    # An attribute of the resource that this record leaves out (origin_id on the demo payments) is null.
    return None if name in resource.fields or name in resource.computed else _UNKNOWN


def _as_filter_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _filtered(rows: list[Record], request: Request, resource: _Resource) -> list[Record]:
    """``filters[attr]=v``, ``filters[attr][]=v`` (any of), ``filters[updated_at]=from...to``."""
    wanted: dict[str, set[str]] = {}
    for key, value in request.query_params.multi_items():
        name = key.removeprefix("filters[").removesuffix("[]").removesuffix("]") if key.startswith("filters[") else None
        if name is None and key in resource.query_filters:
            name = key
        if name:
            wanted.setdefault(name, set()).add(value)
    for name, values in wanted.items():
        if name in ("updated_at", "created_at") and any("..." in v for v in values):
            rows = [r for r in rows if any(_in_range(r.get(name), v) for v in values)]
        elif name != "include_deleted":  # handled by the listing itself
            # Unknown attributes are ignored, as Procore ignores filters it does not support.
            rows = [
                r
                for r in rows
                if (v := _filter_value(r, name, resource)) is _UNKNOWN
                or (v is not None and _as_filter_text(v) in values)
            ]
    return rows


def _in_range(stamp: Any, bounds: str) -> bool:
    start, _, end = bounds.partition("...")
    try:
        moment = parse_timestamp(str(stamp))
        return (not start or parse_timestamp(start) <= moment) and (not end or moment <= parse_timestamp(end))
    except ValueError:
        return False


# --------------------------------------------------------------------------------------- rate limits


class _RateLimitMiddleware:
    """Counts every authenticated REST call and stamps the ``X-Rate-Limit-*`` headers on its response."""

    def __init__(self, app: ASGIApp, *, core: ProcoreEmulator) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.core.tokens.client_of(scope) if scope["type"] == "http" else None
        if client is None or not scope["path"].startswith("/rest/"):
            await self.app(scope, receive, send)
            return
        window, exceeded = self.core.hit(client)
        headers = self.core.rate_headers(window.limit, window.remaining, window.reset_at)
        if exceeded:
            await self.core.rate_limited(headers, window.reset_at, None)(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                # An injected 429 already carries its own (exhausted) figures.
                added = [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ------------------------------------------------------------------------------------------ webhooks

_HOOKS: Final = f"{_API}/webhooks/hooks"
_Scope = tuple[int | None, int | None]  # (company_id, project_id) owning a hook


def _scope(core: ProcoreEmulator, given: Mapping[str, Any]) -> _Scope:
    """The company or project a webhooks request is made in (query or body, as the endpoint takes it).

    The schemas mark both ``company_id`` and ``project_id`` required, and their text says to supply
    either: one of them must be there; another company is 403, an unknown project 404.
    """
    company, project = given.get("company_id"), given.get("project_id")
    if company in (None, "") and project in (None, ""):
        raise _error(400, {"error": "company_id is missing"})
    if company not in (None, "") and str(company) != str(core.company_id):
        raise _error(403, {"error": "App is not connected to this company"})
    if project in (None, ""):
        return core.company_id, None
    if not str(project).isdigit():
        raise _not_found(f"Couldn't find Project with 'id'={quote(str(project))}")
    core.project(int(project))
    return None, int(project)


def _hook(core: ProcoreEmulator, hook_id: str, scope: _Scope) -> Hook:
    """A hook of the scope the request names; another scope's hook is not found, as in Procore."""
    hook = core.hooks.hooks.get(int(hook_id)) if hook_id.isdigit() else None
    if hook is None or (hook.company_id, hook.project_id) != scope:
        raise _not_found(f"Couldn't find Webhooks::Hook with 'id'={quote(hook_id)}")
    return hook


def _wrapped(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    payload = body.get(key)
    if not isinstance(payload, dict) or not payload:
        raise _error(400, {"error": f"param is missing or the value is empty: {key}"})
    return payload


def _hook_values(payload: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """A hook's attributes from a create (all required) or update body; 422 in Rails' words."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in ("api_version", "namespace", "destination_url"):
        if partial and name not in payload:
            continue
        value = payload.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[name] = ["can't be blank"]
        elif not isinstance(value, str):
            errors[name] = ["is invalid"]
        elif name == "api_version":
            if value not in procore_hooks.PAYLOAD_VERSIONS:
                errors[name] = ["is not included in the list"]
            else:
                values[name] = procore_hooks.PAYLOAD_VERSIONS[value]
        elif name == "namespace":
            if not procore_hooks.NAMESPACE.fullmatch(value):
                errors[name] = ["is invalid"]
            values[name] = value
        else:
            try:
                url = httpx.URL(value)
            except httpx.InvalidURL:
                url = None
            if url is None or url.scheme not in ("http", "https") or not url.host:
                errors[name] = ["is invalid"]
            values[name] = value
    if "destination_headers" in payload:
        headers = payload["destination_headers"]
        if headers is None:
            values["destination_headers"] = {}
        elif isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()):
            values["destination_headers"] = {str(k): v for k, v in headers.items()}
        else:
            errors["destination_headers"] = ["is invalid"]
    if errors:
        raise _error(422, {"errors": errors})
    return values


def _webhook_routes(router: APIRouter, core: ProcoreEmulator) -> None:
    """Hooks, triggers, deliveries and resources (``RestV10Webhooks*`` in the vendored schemas).

    Registered before the generic ``/rest/v1.0/{resource}`` routes, which would take these paths.
    """

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            return await json_object(request)
        except BodyError as exc:
            raise _error(400, {"error": str(exc)}) from exc

    def shown(method: str, template: str, row: Record) -> Record:
        return _shown(openapi.published(method, template), row)

    @router.post(_HOOKS)
    async def create_hook(request: Request) -> Response:
        core.authorize(request)
        body = await body_of(request)
        company_id, project_id = _scope(core, body)
        values = _hook_values(_wrapped(body, "hook"), partial=False)
        client = core.tokens.client_of(request.scope) or ""
        hook = Hook(
            id=core.hooks.next_id(),
            company_id=company_id,
            project_id=project_id,
            user_id=procore_hooks.service_user_id(client),
            namespace=values["namespace"],
            api_version=values["api_version"],
            destination_url=values["destination_url"],
            destination_headers=values.get("destination_headers", {}),
        )
        core.hooks.hooks[hook.id] = hook
        return JSONResponse(shown("POST", _HOOKS, hook.shown()), status_code=201)

    @router.get(_HOOKS)
    async def list_hooks(request: Request) -> Response:
        core.authorize(request)
        scope = _scope(core, request.query_params)
        wanted = {k: request.query_params[k] for k in ("namespace", "api_version") if k in request.query_params}
        if "api_version" in wanted:
            wanted["api_version"] = procore_hooks.PAYLOAD_VERSIONS.get(wanted["api_version"], wanted["api_version"])
        rows = [
            shown("GET", _HOOKS, hook.shown())
            for hook in sorted(core.hooks.hooks.values(), key=lambda h: h.id)
            if (hook.company_id, hook.project_id) == scope
            and all(getattr(hook, k) == v for k, v in wanted.items())
        ]
        return JSONResponse(rows)

    @router.patch(f"{_HOOKS}/{{hook_id}}")
    async def update_hook(hook_id: str, request: Request) -> Response:
        core.authorize(request)
        body = await body_of(request)
        hook = _hook(core, hook_id, _scope(core, body))
        for name, value in _hook_values(_wrapped(body, "hook"), partial=True).items():
            setattr(hook, name, value)
        return JSONResponse(shown("PATCH", f"{_HOOKS}/{{id}}", hook.shown()))

    @router.delete(f"{_HOOKS}/{{hook_id}}")
    async def delete_hook(hook_id: str, request: Request) -> Response:
        core.authorize(request)
        hook = _hook(core, hook_id, _scope(core, request.query_params))
        core.hooks.delete(hook.id)
        return Response(status_code=200)  # the schema publishes no body

    @router.post(f"{_HOOKS}/{{hook_id}}/triggers")
    async def create_trigger(hook_id: str, request: Request) -> Response:
        core.authorize(request)
        body = await body_of(request)
        hook = _hook(core, hook_id, _scope(core, body))
        # "Body must include api_version and a trigger object" (webhooks_api.md).
        _require(("api_version",), body)
        payload = _wrapped(body, "trigger")
        errors: dict[str, list[str]] = {}
        name, event_type = payload.get("resource_name"), payload.get("event_type")
        company_only = procore_hooks.TRIGGER_RESOURCES.get(name) if isinstance(name, str) else None
        if name in (None, ""):
            errors["resource_name"] = ["can't be blank"]
        elif company_only is None or (company_only and hook.project_id is not None):
            # Not a resource Procore knows (or not one of this scope's: the resources list of a
            # project has no company directory).
            errors["resource_name"] = ["is not included in the list"]
        if event_type in (None, ""):
            errors["event_type"] = ["can't be blank"]
        elif not isinstance(event_type, str) or event_type.lower() not in procore_hooks.EVENT_TYPES:
            errors["event_type"] = ["is not included in the list"]
        if errors:
            raise _error(422, {"errors": errors})
        assert isinstance(name, str) and isinstance(event_type, str)
        trigger = procore_hooks.Trigger(
            id=core.hooks.next_id(),
            hook_id=hook.id,
            resource_name=name,
            event_type=event_type.lower(),
            company_id=hook.company_id,
            project_id=hook.project_id,
            user_id=procore_hooks.service_user_id(core.tokens.client_of(request.scope) or ""),
        )
        core.hooks.triggers[trigger.id] = trigger
        template = f"{_HOOKS}/{{hook_id}}/triggers"
        return JSONResponse(shown("POST", template, trigger.shown(_event_types("POST", template))), status_code=201)

    @router.get(f"{_HOOKS}/{{hook_id}}/triggers")
    async def list_triggers(hook_id: str, request: Request) -> Response:
        core.authorize(request)
        hook = _hook(core, hook_id, _scope(core, request.query_params))
        template = f"{_HOOKS}/{{hook_id}}/triggers"
        spelled = _event_types("GET", template)
        return JSONResponse([shown("GET", template, t.shown(spelled)) for t in core.hooks.of_hook(hook.id)])

    @router.delete(f"{_HOOKS}/{{hook_id}}/triggers/{{trigger_id}}")
    async def delete_trigger(hook_id: str, trigger_id: str, request: Request) -> Response:
        core.authorize(request)
        hook = _hook(core, hook_id, _scope(core, request.query_params))
        trigger = core.hooks.triggers.get(int(trigger_id)) if trigger_id.isdigit() else None
        if trigger is None or trigger.hook_id != hook.id:
            raise _not_found(f"Couldn't find Webhooks::Trigger with 'id'={quote(trigger_id)}")
        del core.hooks.triggers[trigger.id]
        return Response(status_code=200)

    @router.get(f"{_HOOKS}/{{hook_id}}/deliveries")
    async def list_deliveries(hook_id: str, request: Request) -> Response:
        core.authorize(request)
        hook = _hook(core, hook_id, _scope(core, request.query_params))
        # The schema says filters[status]; the API guide's example says filter[status].
        status = request.query_params.get("filters[status]") or request.query_params.get("filter[status]") or "any"
        kept = procore_hooks.STATUS_FILTERS.get(status, procore_hooks.STATUS_FILTERS["any"])
        rows = [
            row
            for record in core.outbox.records({"lane": core.hooks.lane(hook.id)})
            if (row := procore_hooks.delivery_row(record)) is not None and row["outcome"] in kept
        ]
        # page_start: the last event id of the previous page; page_size: default 100.
        start = _int_param(request.query_params.get("page_start"), 0)
        size = _int_param(request.query_params.get("page_size"), 100)
        # In event order, as page_start ("the last id of the previous page") needs: a delayed
        # delivery is logged after later events' and must not fall behind the reader's cursor.
        rows = sorted((r for r in rows if int(r["event_id"] or 0) > start), key=lambda r: int(r["event_id"] or 0))[:size]
        template = f"{_HOOKS}/{{hook_id}}/deliveries"
        return JSONResponse([shown("GET", template, row) for row in rows])

    @router.get(f"{_API}/webhooks/resources")
    async def list_resources(request: Request) -> Response:
        core.authorize(request)
        _, project_id = _scope(core, request.query_params)
        rows = procore_hooks.resources_listing(company_level=project_id is None)
        return JSONResponse([shown("GET", f"{_API}/webhooks/resources", row) for row in rows])


def _event_types(method: str, template: str) -> tuple[str, ...]:
    """How the published trigger schema spells event types (its ``event_type`` enum)."""
    published = openapi.published(method, template)
    enum = (published.response.get("event_type") or {}).get("enum") if published else None
    return tuple(enum or ())


# ---------------------------------------------------------------------------------------------- app


def _router(core: ProcoreEmulator) -> APIRouter:
    router = APIRouter()

    @router.post("/oauth/token")
    async def token(request: Request) -> Response:
        params = await token_request_params(request)
        grant = params.get("grant_type")
        if not grant:
            raise _error(400, {"error": "invalid_request", "error_description": "Missing grant_type"})
        if grant != "client_credentials":
            raise _error(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The authorization grant type is not supported by the authorization server.",
                },
            )
        client_id = params.get("client_id", "")
        if not client_id or core.clients.get(client_id) != params.get("client_secret"):
            raise _error(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed due to unknown client, no client "
                    "authentication included, or unsupported authentication method.",
                },
            )
        ttl = core.settings.token_ttl_seconds
        issued = core.tokens.issue(client_id, ttl)
        return JSONResponse(
            {
                "access_token": issued.value,
                "token_type": "bearer",
                "expires_in": int(ttl),
                "created_at": int(issued.issued_at),
            }
        )

    @router.get("/oauth/token/info")
    async def token_info(request: Request) -> Response:
        core.authorize(request, company=False)
        _, issued = core.tokens.check(request.headers.get("authorization"))
        assert issued is not None
        return JSONResponse(
            {
                "resource_owner_id": None,
                "scope": [],
                "expires_in": max(0, int(issued.expires_at - core.clock.now())),
                "application": {"uid": issued.client_id},
                "created_at": int(issued.issued_at),
            }
        )

    @router.post("/oauth/revoke")
    async def revoke(request: Request) -> Response:
        # Answers 200 even for an unknown token (RFC 7009, and Procore's docs).
        core.tokens.revoke((await token_request_params(request)).get("token", ""))
        return JSONResponse({})

    _webhook_routes(router, core)

    @router.get(f"{_API}/companies")
    async def companies(request: Request) -> Response:
        core.authorize(request)
        return JSONResponse(
            [{"id": core.company_id, "name": demo_data.COMPANY_NAME, "is_active": True, "my_company": False}]
        )

    @router.get(f"{_API}/projects/{{project_id}}/{{path}}")
    async def project_list(project_id: str, path: str, request: Request) -> Response:
        core.authorize(request)
        resource = core.resource(path)
        if not resource.project_scoped or not project_id.isdigit():
            raise _not_found(f"No route matches {request.url.path}")
        return core.listing(request, resource, int(project_id), f"{_API}/projects/{{project_id}}/{path}")

    @router.get(f"{_API}/companies/{{company_id}}/{{path}}")
    async def company_list(company_id: str, path: str, request: Request) -> Response:
        core.authorize(request)
        resource = core.resource(path)
        if resource.project_scoped:
            raise _not_found(f"No route matches {request.url.path}")
        if company_id != str(core.company_id):
            raise _error(403, {"error": "App is not connected to this company"})
        return core.listing(request, resource, None, f"{_API}/companies/{{company_id}}/{path}")

    @router.get(f"{_API}/{{path}}")
    async def flat_list(path: str, request: Request) -> Response:
        core.authorize(request)
        resource = core.resource(path)
        project_id = request.query_params.get("project_id")
        if project_id is not None and not project_id.isdigit():
            raise _not_found(f"Couldn't find Project with 'id'={quote(project_id)}")
        return core.listing(request, resource, int(project_id) if project_id else None, f"{_API}/{path}")

    @router.get(f"{_API}/{{path}}/{{record_id}}")
    async def show(path: str, record_id: str, request: Request) -> Response:
        core.authorize(request)
        resource = core.resource(path)
        published = openapi.published("GET", f"{_API}/{path}/{{id}}")
        _require(published.query if published else (), request.query_params)
        return JSONResponse(_shown(published, core.find(resource, record_id, request.query_params)))

    @router.patch(f"{_API}/{{path}}/{{record_id}}")
    async def update(path: str, record_id: str, request: Request) -> Response:
        core.authorize(request)
        return await core.update(request, core.resource(path), record_id)

    @router.post(f"{_API}/{{path}}")
    async def create(path: str, request: Request) -> Response:
        core.authorize(request)
        return await core.create_api(request, core.resource(path))

    @router.delete(f"{_API}/{{path}}/{{record_id}}")
    async def delete(path: str, record_id: str, request: Request) -> Response:
        core.authorize(request)
        return await core.delete_api(request, core.resource(path), record_id)

    return router


def _http_error(request: Request, status: int, detail: str) -> Response:
    if status == 404:
        return JSONResponse({"message": "Not Found", "error": f"No route matches {request.url.path}"}, status_code=404)
    return JSONResponse({"error": detail}, status_code=status)


def create_procore_app(
    *,
    token_ttl_seconds: float = 5400.0,
    rate_limit: ProcoreRateLimit | None = None,
    clients: Mapping[str, str] | None = None,
    company_id: int = COMPANY_ID,
    default_per_page: int = 100,
    computed_fields_writable: bool = False,
    webhooks: ProcoreWebhookSettings | None = None,
) -> FastAPI:
    """A fresh, isolated Procore emulator seeded with the demo data.

    ``clients`` maps DMSA client ids to secrets (default: ``DEFAULT_CLIENT_ID`` /
    ``DEFAULT_CLIENT_SECRET``). ``webhooks`` sets the delivery timings and faults the instance
    starts (and resets) with. The state object is ``app.state.core`` (a ``ProcoreEmulator``).
    """
    settings = ProcoreSettings(
        token_ttl_seconds=token_ttl_seconds,
        rate_limit=rate_limit or ProcoreRateLimit(),
        default_per_page=default_per_page,
        computed_fields_writable=computed_fields_writable,
        webhooks=webhooks or ProcoreWebhookSettings(),
    )
    core = ProcoreEmulator(settings, clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}, company_id)
    return build_app(
        core,
        _router(core),
        title="Procore emulator",
        http_error=_http_error,
        outer_middleware=[(_RateLimitMiddleware, {"core": core})],
    )
