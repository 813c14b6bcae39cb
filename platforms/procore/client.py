"""Procore REST v1.0 connector: OAuth client credentials, company header, page/per_page paging."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from canonical.jsonio import dumps, loads
from platforms.descriptor import Destination, JournalEntry, SubscriptionState, WriteStatus
from platforms.http import (
    PlatformError,
    RejectedError,
    RetryableError,
    Token,
    holds,
    raise_for,
    retry_after_seconds,
    token_base,
)
from platforms.procore import openapi, subscriptions

# Resource path (v1.0) and the JSON key of its write body, per canonical entity type.
RESOURCES = {
    "project": ("projects", "project"),
    "customer": ("vendors", "vendor"),
    "invoice": ("requisitions", "requisition"),
    "payment": ("contract_payments", "contract_payment"),
}
COMMITMENTS = {
    "WorkOrderContract": ("work_order_contracts", "work_order_contract"),
    "PurchaseOrderContract": ("purchase_order_contracts", "purchase_order_contract"),
}
# Records that belong to the company rather than a project (their endpoints take `company_id`).
COMPANY_LEVEL = frozenset({"project", "customer"})
PER_PAGE = 100
# Deliveries per page of the hook's delivery log (the endpoint's default).
JOURNAL_PAGE = 100
# Project lists fetched ahead of the one being read (see `records`): a few requests in flight hide
# the round trips without bursting past Procore's spike limit.
PROJECTS_AHEAD = 3


# Procore's API hosts and the login host that issues their tokens (developers.procore.com:
# "OAuth 2.0 Client Credentials"); any other base URL (an emulator, a proxy) issues its own.
TOKEN_HOSTS = {
    "https://api.procore.com": "https://login.procore.com",
    "https://sandbox.procore.com": "https://login-sandbox.procore.com",
}


def auth_base(base_url: str, auth_url: str | None = None) -> str:
    """The base of the token endpoint (`{auth_base}/oauth/token`)."""
    return token_base(base_url, auth_url, TOKEN_HOSTS)


def _integer(value: str) -> int | str:
    return int(value) if value.isdecimal() else value


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before retrying: `Retry-After` when Procore sends it (503s, some 429s), else
    for a 429 the `X-Rate-Limit-Reset` it stamps on every response (Unix seconds, the window that
    ran out; developers.procore.com "Rate Limiting")."""
    seconds = retry_after_seconds(response)
    if seconds is None and response.status_code == 429:
        reset = response.headers.get("X-Rate-Limit-Reset")
        try:
            seconds = max(0.0, float(reset) - time.time()) if reset else None
        except ValueError:
            seconds = None
    return seconds


# Waits for a spent rate window up to this long happen in place (the 10-second spike window);
# longer ones (the hourly window) give the work back to Temporal to retry when the window resets.
MAX_INLINE_WAIT = 15.0


@dataclass
class RateBudget:
    """What Procore last said is left of an app's rate window (`X-Rate-Limit-*`, stamped on every
    response): shared by every client of one app in this process, since Procore counts per app."""

    limit: int = 0
    remaining: int = 0
    reset_at: float = 0.0  # Unix seconds

    def observe(self, response: httpx.Response) -> None:
        headers = response.headers
        try:
            limit, remaining = int(headers["X-Rate-Limit-Limit"]), int(headers["X-Rate-Limit-Remaining"])
            reset_at = float(headers["X-Rate-Limit-Reset"])
        except (KeyError, ValueError):
            return
        self.limit, self.remaining, self.reset_at = limit, remaining, reset_at

    def wait(self, now: float) -> float:
        """Seconds to hold the next request: 0 while the window has more than a small reserve left
        (kept for the writes and reads other workers have in flight)."""
        reserve = max(1, self.limit // 50)
        if self.limit and self.remaining <= reserve and now < self.reset_at:
            return self.reset_at - now
        return 0.0


_BUDGETS: dict[tuple[str, str], RateBudget] = {}


def budget_of(base_url: str, client_id: str) -> RateBudget:
    return _BUDGETS.setdefault((base_url.rstrip("/"), client_id), RateBudget())


class ProcoreClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        company_id: str,
        auth_url: str | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token_url = f"{auth_base(base_url, auth_url)}/oauth/token"
        self._client_id = client_id
        self._secret = client_secret
        self._company = str(company_id)
        self._token: Token | None = None
        self._budget = budget_of(self._base, client_id)

    @property
    def company_id(self) -> int | str:
        """The company, as Procore's bodies and query strings take it (an integer)."""
        return _integer(self._company)

    async def subscribe(self, destination: Destination) -> list[SubscriptionState]:
        return await subscriptions.subscribe(self, destination)

    async def unsubscribe(self, destination: Destination) -> int:
        return await subscriptions.unsubscribe(self, destination)

    async def _auth(self) -> dict[str, str]:
        if self._token is None or not self._token.valid():
            resp = await self._send(
                "POST",
                self._token_url,
                data={"grant_type": "client_credentials", "client_id": self._client_id, "client_secret": self._secret},
            )
            raise_for(resp, retry_after)
            body = resp.json()
            self._token = Token(body["access_token"], time.monotonic() + float(body.get("expires_in", 3600)))
        return {"Authorization": f"Bearer {self._token.value}", "Procore-Company-Id": self._company}

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as err:
            raise RetryableError(f"Procore did not answer in time ({method} {url})") from err
        except httpx.TransportError as err:
            raise RetryableError(f"Procore connection failed ({method} {url}): {err}") from err

    async def _within_budget(self, method: str, path: str) -> None:
        """Spend Procore's hourly and spike budgets by what it reports, not by a fixed pace: a
        default pace of several writes a second, two requests each, would run past the default
        3,600 requests an hour and then be refused for the rest of the hour."""
        wait = self._budget.wait(time.time())
        if wait > MAX_INLINE_WAIT:
            raise RetryableError(
                f"Procore's request budget for this app is spent ({self._budget.limit} per window); "
                f"{method} {path} waits {wait:.0f} s for the window to reset",
                retry_after=wait,
            )
        if wait > 0:
            await asyncio.sleep(wait)

    async def request(self, method: str, path: str, *, json_body: Any = None, **kwargs: Any) -> httpx.Response:
        await self._within_budget(method, path)
        extra = {"Content-Type": "application/json"} if json_body is not None else {}
        if json_body is not None:
            kwargs["content"] = dumps(json_body)
        resp = await self._send(method, f"{self._base}{path}", headers={**await self._auth(), **extra}, **kwargs)
        self._budget.observe(resp)
        if resp.status_code == 401:  # token expired early or revoked: one fresh token, once
            self._token = None
            resp = await self._send(method, f"{self._base}{path}", headers={**await self._auth(), **extra}, **kwargs)
            self._budget.observe(resp)
        raise_for(resp, retry_after)
        return resp

    async def pages(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        page = 1
        while True:
            resp = await self.request("GET", path, params={**(params or {}), "page": page, "per_page": PER_PAGE})
            records = loads(resp.text)
            if not isinstance(records, list):
                raise PlatformError(f"unexpected Procore list body for {path}")
            if records:
                yield records
            if 'rel="next"' not in resp.headers.get("Link", ""):
                return
            page += 1

    async def records(self, entity_type: str, *, since: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every record of a canonical entity type, in a stable order (resumable by count); with
        ``since``, those updated since then (``filters[updated_at]=<since>...``)."""
        changed = {"filters[updated_at]": f"{since}..."} if since else {}
        company = {"company_id": self._company, **changed}
        if entity_type in ("project", "customer"):
            async for batch in self.pages(f"/rest/v1.0/{RESOURCES[entity_type][0]}", company):
                for record in batch:
                    yield record
            return
        project_ids = [p["id"] async for p in self.records("project")]
        # Project-scoped lists hold a few records each, so a seed is a long run of small requests:
        # the next projects' lists are fetched while the current one's records are used (at most
        # PROJECTS_AHEAD requests in flight; the number of requests does not change). Records are
        # still yielded in project order, so a retried seed resumes by count.
        pending: deque[asyncio.Task[list[dict[str, Any]]]] = deque()
        projects = iter(project_ids)
        try:
            while True:
                while len(pending) < PROJECTS_AHEAD and (project_id := next(projects, None)) is not None:
                    pending.append(asyncio.create_task(self._project_records(entity_type, project_id, changed)))
                if not pending:
                    return
                for record in await pending.popleft():
                    yield record
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _project_records(
        self, entity_type: str, project_id: Any, changed: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every record of a project-scoped type in one project (``changed``: the updated_at filter)."""
        out: list[dict[str, Any]] = []
        changed = changed or {}
        if entity_type == "contract":
            for kind, (path, _) in COMMITMENTS.items():
                async for batch in self.pages(f"/rest/v1.0/{path}", {"project_id": project_id, **changed}):
                    out += ({**record, "type": record.get("type") or kind} for record in batch)
        elif entity_type == "payment":
            # Procore lists contract payments per contract (project_id and contract_id are required),
            # in the project's contracts' order: deterministic, so a retried seed resumes by count.
            for contract in await self._project_records("contract", project_id):
                params = {"project_id": project_id, "contract_id": contract["id"], **changed}
                async for batch in self.pages(f"/rest/v1.0/{RESOURCES[entity_type][0]}", params):
                    out += batch
        else:
            params = {"project_id": project_id, **changed}
            async for batch in self.pages(f"/rest/v1.0/{RESOURCES[entity_type][0]}", params):
                out += batch
        return out

    def changed_since(self, entity_type: str, since: str | None) -> AsyncIterator[dict[str, Any]]:
        return self.records(entity_type, since=since)

    async def journal(self, subscription_id: str, after: int) -> AsyncIterator[JournalEntry]:
        """Our hook's deliveries after event ``after`` (``RestV10WebhooksHooksHookIdDeliveriesGet``:
        company scope, ``page_start`` the last event id of the previous page), every outcome: a
        delivery that failed or was given up is a change the engine may never have heard of."""
        hook_id = subscription_id.split("/", 1)[0]
        start = after
        while True:
            params = {"company_id": self._company, "page_size": JOURNAL_PAGE, "page_start": start, "filters[status]": "any"}
            resp = await self.request("GET", f"{subscriptions.HOOKS}/{hook_id}/deliveries", params=params)
            rows = loads(resp.text)
            if not isinstance(rows, list):
                raise PlatformError(f"unexpected Procore deliveries body for hook {hook_id}")
            last = start
            usable = 0
            for row in rows:
                if not isinstance(row, dict) or not isinstance(row.get("event"), dict):
                    continue
                cursor = row.get("event_id")
                if not isinstance(cursor, int) or isinstance(cursor, bool):
                    continue
                usable += 1
                last = max(last, cursor)
                yield JournalEntry(cursor=cursor, event=row["event"], started_at=row.get("started_at"))
            if rows and not usable:  # a shape we do not know: not an empty journal
                raise PlatformError(f"Procore deliveries of hook {hook_id} carry no integer event_id and event")
            if len(rows) < JOURNAL_PAGE or last <= start:
                return
            start = last

    async def records_near(self, entity_type: str, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The records of a type in the event's project (a company-level type: the event's record)."""
        if entity_type in COMPANY_LEVEL:
            return [await self.get(entity_type, {"id": event.get("resource_id")})]
        project_id = event.get("project_id")
        if project_id is None:
            return []
        return await self._project_records(entity_type, project_id)

    def _resource(self, entity_type: str, record: Mapping[str, Any]) -> tuple[str, str]:
        if entity_type == "contract":
            return COMMITMENTS[_commitment_type(record)]
        return RESOURCES[entity_type]

    def _scope(self, entity_type: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """The identifying parameters Procore requires beside a record's id (the endpoint schemas in
        `platforms/procore/schemas/`): the company of company-level records; the project of
        project-scoped ones; a contract payment also its contract."""
        if entity_type in COMPANY_LEVEL:
            return {"company_id": _integer(self._company)}
        project = record.get("project")
        scope = {"project_id": record.get("project_id") or (project.get("id") if isinstance(project, dict) else None)}
        if entity_type == "payment":
            scope["contract_id"] = record.get("contract_id")
        return {key: value for key, value in scope.items() if value is not None}

    async def get(self, entity_type: str, record: dict[str, Any]) -> dict[str, Any]:
        path, _ = self._resource(entity_type, record)
        resp = await self.request("GET", f"/rest/v1.0/{path}/{record['id']}", params=self._scope(entity_type, record))
        value: dict[str, Any] = loads(resp.text)
        if entity_type == "contract":  # a commitment's show does not say which kind it is
            value.setdefault("type", _commitment_type(record))
        return value

    async def patch(self, entity_type: str, record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        path, key = self._resource(entity_type, record)
        fields = dict(fields)
        vendor = fields.pop("vendor", None) if entity_type == "contract" else None
        if isinstance(vendor, Mapping) and vendor.get("id") is not None:
            fields["vendor_id"] = vendor["id"]  # a commitment reads `vendor {id, company}`, takes `vendor_id`
        # Only what the endpoint's write schema takes: Procore drops anything else without a word
        # (Rails strong parameters), so sending it would look like a write that worked.
        published = openapi.endpoint("PATCH", f"/rest/v1.0/{path}/{{id}}")
        refused = sorted(set(fields) - published.writable)
        if refused:
            raise RejectedError(f"Procore {path} do not take {', '.join(refused)} (not in the endpoint's write schema)")
        for name, allowed in published.enums.items():
            if name in fields and fields[name] is not None and fields[name] not in allowed:
                raise RejectedError(f"Procore {path} take {name} only as one of {', '.join(allowed)}")
        # The scope goes in the body (the PATCH schemas require it there), beside the record's fields.
        body: dict[str, Any] = {**self._scope(entity_type, record), key: fields}
        if entity_type == "invoice" and record.get("commitment_id") is not None:
            body["commitment_id"] = record["commitment_id"]
        resp = await self.request("PATCH", f"/rest/v1.0/{path}/{record['id']}", json_body=body)
        value: dict[str, Any] = loads(resp.text)
        # Write-only fields (a payment's payment_method) are in no response: they hold what was sent.
        value.update({k: fields[k] for k in _unseen(path, fields) if k != "vendor_id"})
        return value

    async def fetch(self, entity_type: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        return await self.get(entity_type, dict(stored))

    async def write(
        self, entity_type: str, stored: Mapping[str, Any], changes: dict[str, Any], *, overwrite: bool
    ) -> tuple[dict[str, Any], WriteStatus]:
        """Procore has no ETags: read, compare `updated_at` with what we saw, then write (last writer
        wins between the read and the write)."""
        remote = await self.get(entity_type, dict(stored))
        path, _ = self._resource(entity_type, stored)
        # A write-only field cannot be seen in the record: a change carrying one is always written.
        if not _unseen(path, changes) and holds(remote, changes):
            return remote, ("already" if remote.get("updated_at") == stored.get("updated_at") else "recovered")
        if not overwrite and remote.get("updated_at") != stored.get("updated_at"):
            return remote, "conflict"
        return await self.patch(entity_type, dict(stored), changes), "written"

    async def create(self, entity_type: str, record: Mapping[str, Any], marker: str) -> dict[str, Any]:
        """POST a new record (the endpoint schemas' `...Post.json`): its scope at the top level, the
        fields its write schema takes in the wrapper, and ``marker`` in the record's origin field
        (Procore's fields for an integration's own data: how a create whose response was lost is
        found again)."""
        if entity_type == "project":
            raise RejectedError(
                "the engine does not create Procore projects (a project is set up in Procore with its "
                "template, tools and permissions); create it there and it is linked by its project number"
            )
        path, key = self._resource(entity_type, record)
        published = openapi.endpoint("POST", f"/rest/v1.0/{path}")
        fields = {k: v for k, v in record.items() if k != "id"}
        vendor = fields.pop("vendor", None)
        if isinstance(vendor, Mapping) and vendor.get("id") is not None:
            fields["vendor_id"] = vendor["id"]
        project = fields.pop("project", None)
        if isinstance(project, Mapping) and project.get("id") is not None:
            fields.setdefault("project_id", project["id"])
        # Computed and read-only fields (totals, a payment's status) are not in the write schema:
        # a create carries what Procore takes and nothing it would silently drop.
        body_fields = {k: v for k, v in fields.items() if k in published.writable and v is not None}
        body_fields[marker_field(entity_type)] = marker_value(marker)
        scope = self._scope(entity_type, {**fields, "project_id": fields.get("project_id")})
        for required in published.body - {key}:
            given = fields.get(required, scope.get(required))
            if given is None:
                raise RejectedError(f"Procore {path} need {required} to create a record")
            scope[required] = given
        body = {**scope, key: body_fields}
        resp = await self.request("POST", f"/rest/v1.0/{path}", json_body=body)
        value: dict[str, Any] = loads(resp.text)
        if entity_type == "contract":
            value.setdefault("type", _commitment_type(record))
        value.update({k: body_fields[k] for k in _unseen(path, body_fields) if k != "vendor_id"})
        return value

    async def delete(self, entity_type: str, stored: Mapping[str, Any]) -> None:
        """DELETE as the ``...IdDelete.json`` schemas publish it (scope ids in the query). Procore
        decides what may go (a Draft commitment, a draft pay application without payments; never a
        record synced with an ERP) and answers 422 with its reason otherwise. Vendors and projects have
        no delete endpoint: refused here with that reason."""
        if entity_type not in DELETABLE:
            raise RejectedError(
                f"Procore's API has no delete for {RESOURCES[entity_type][0]}; remove it in Procore if it must go"
            )
        path, _ = self._resource(entity_type, stored)
        try:
            await self.request(
                "DELETE", f"/rest/v1.0/{path}/{stored['id']}", params=self._scope(entity_type, dict(stored))
            )
        except RejectedError as err:
            if err.status != 404:  # gone already (a commitment's soft delete shows as 404 too)
                raise

    async def find(self, entity_type: str, record: Mapping[str, Any], marker: str) -> dict[str, Any] | None:
        """The record a create of ``record`` would duplicate: one carrying our ``marker`` in its
        origin field (an earlier attempt whose answer was lost), else one with the same strongest
        business key (somebody keyed it in already). Reads the record's scope only."""
        from reconcile.keys import business_keys  # reconcile depends on platforms, not the reverse

        if entity_type == "project":
            return None
        path, _ = self._resource(entity_type, record)
        wanted = business_keys("procore", entity_type, record)[:1]
        scope = self._scope(entity_type, record)
        if entity_type == "customer" and record.get("name"):
            scope["filters[search]"] = record["name"]
        candidates: list[dict[str, Any]] = []
        if entity_type == "contract":
            for kind, (kind_path, _) in COMMITMENTS.items():
                async for batch in self.pages(f"/rest/v1.0/{kind_path}", scope):
                    candidates += ({**r, "type": r.get("type") or kind} for r in batch)
        else:
            async for batch in self.pages(f"/rest/v1.0/{path}", scope):
                candidates += batch
        field, value = marker_field(entity_type), marker_value(marker)
        for candidate in candidates:
            if str(candidate.get(field) or "") == value:
                return candidate
        for candidate in candidates:
            if wanted and business_keys("procore", entity_type, candidate)[:1] == wanted:
                return candidate
        return None


#: The types Procore's API deletes (a ``RestV10*IdDelete.json`` exists for their resources).
DELETABLE: Final = frozenset({"contract", "invoice", "payment"})


def marker_field(entity_type: str) -> str:
    """Where a record the engine created carries the engine's id. ``origin_id`` is what Procore's
    ERP integrations set, and Procore locks pay applications and payments carrying one ("synced with
    ERP": no edits, no deletes), which would stop every later sync of them; ``origin_data`` is the
    free-form integration field the list endpoints return too. Vendors list no origin field at all:
    their ``origin_id`` is only a trace for people, a vendor is found again by its business key."""
    return "origin_id" if entity_type == "customer" else "origin_data"


def marker_value(marker: str) -> str:
    """The marker as stored: prefixed, so a person reading the record knows who wrote it."""
    return f"structural:{marker}"


def created_marker(entity_type: str, record: Mapping[str, Any]) -> str | None:
    """The canonical id in a record the engine created (see ``marker_field``), else None."""
    value = str(record.get(marker_field(entity_type)) or "")
    prefix = marker_value("")
    return value[len(prefix) :] if value.startswith(prefix) and len(value) > len(prefix) else None


def _unseen(path: str, keys: Iterable[str]) -> list[str]:
    """The keys a record's show does not return: write-only fields (none when the published extract
    has no response schema to tell)."""
    response = openapi.endpoint("GET", f"/rest/v1.0/{path}/{{id}}").response
    return [k for k in keys if k not in response] if response else []


def _commitment_type(record: Mapping[str, Any]) -> str:
    return str(record.get("type") or "WorkOrderContract")


def connect(http: httpx.AsyncClient, live: Mapping[str, Any], secrets: Mapping[str, str]) -> ProcoreClient:
    """The connector of a live connection (its settings and decrypted credentials)."""
    return ProcoreClient(
        http,
        base_url=live["base_url"],
        client_id=secrets["client_id"],
        client_secret=secrets["client_secret"],
        company_id=live["company_id"],
        auth_url=live.get("auth_url"),
    )
