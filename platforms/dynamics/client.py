"""Business Central API v2.0 connector: Entra client credentials, OData paging, If-Match writes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import httpx

from canonical.jsonio import dumps, loads
from platforms.descriptor import Destination, SubscriptionState, WriteStatus
from platforms.dynamics import metadata, subscriptions
from platforms.dynamics.mapping import CURRENCY_ANNOTATION, payment_currency, with_currency
from platforms.http import (
    PlatformError,
    RejectedError,
    RetryableError,
    StaleError,
    Token,
    error_message,
    holds,
    raise_for,
    token_base,
)

SCOPE = "https://api.businesscentral.dynamics.com/.default"
ENTITY_SETS = {
    "project": "projects",
    "customer": "customers",
    "contract": "salesOrders",
    "invoice": "salesInvoices",
    "payment": "customerPayments",
}
PAGE_SIZE = 1000
# OData annotations are metadata, not fields: never sent back in a PATCH.
# `number` comes from a number series; `lastModfiedDateTime` is BC's own misspelling on some pages.
# The descriptor's read-only fields too (platforms/dynamics/__init__.py).
READ_ONLY = frozenset({"@odata.etag", "@odata.context", "id", "number", "lastModifiedDateTime", "lastModfiedDateTime"})


# Business Central's API host; its tokens come from Microsoft Entra ("Service-to-service
# authentication", learn.microsoft.com). Any other base URL (an emulator) issues its own.
TOKEN_HOSTS = {"https://api.businesscentral.dynamics.com": "https://login.microsoftonline.com"}


def auth_base(base_url: str, auth_url: str | None = None) -> str:
    """The base of the token endpoint (`{auth_base}/{tenant}/oauth2/v2.0/token`)."""
    return token_base(base_url, auth_url, TOKEN_HOSTS)


class DynamicsClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        tenant: str,
        environment: str,
        company_id: str,
        client_id: str,
        client_secret: str,
        auth_url: str | None = None,
    ) -> None:
        self._http = http
        self._root = base_url.rstrip("/")
        self._token_url = f"{auth_base(base_url, auth_url)}/{tenant}/oauth2/v2.0/token"
        self._tenant = tenant
        self._api = f"{self._root}/v2.0/{tenant}/{environment}/api/v2.0/companies({company_id})"
        self._company = company_id
        self.subscriptions_url = f"{self._root}/v2.0/{tenant}/{environment}/api/v2.0/subscriptions"
        self._client_id = client_id
        self._secret = client_secret
        self._token: Token | None = None

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as err:
            raise RetryableError(f"Business Central did not answer in time ({method})") from err
        except httpx.TransportError as err:
            raise RetryableError(f"Business Central connection failed ({method}): {err}") from err

    def subscription_url(self, subscription_id: str) -> str:
        return f"{self.subscriptions_url}('{subscription_id}')"

    def subscription_resources(self) -> list[str]:
        """The `resource` of each subscription we need: the synced entity sets of the company."""
        return [f"/api/v2.0/companies({self._company})/{entity_set}" for entity_set in ENTITY_SETS.values()]

    @staticmethod
    def raise_for(response: httpx.Response) -> None:
        _raise_for(response)

    async def subscribe(self, destination: Destination) -> list[SubscriptionState]:
        return await subscriptions.subscribe(self, destination)

    async def unsubscribe(self, destination: Destination) -> int:
        return await subscriptions.unsubscribe(self, destination)

    async def _auth(self) -> dict[str, str]:
        if self._token is None or not self._token.valid():
            resp = await self._send(
                "POST",
                self._token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._secret,
                    "scope": SCOPE,
                },
            )
            raise_for(resp)
            body = resp.json()
            self._token = Token(body["access_token"], time.monotonic() + float(body.get("expires_in", 3599)))
        return {"Authorization": f"Bearer {self._token.value}", "Accept": "application/json"}

    async def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        resp = await self._send(method, url, headers={**await self._auth(), **(headers or {})}, **kwargs)
        if resp.status_code == 401:
            self._token = None
            resp = await self._send(method, url, headers={**await self._auth(), **(headers or {})}, **kwargs)
        return resp

    async def collection(self, path: str) -> AsyncIterator[dict[str, Any]]:
        url: str | None = f"{self._api}/{path}"
        while url:
            resp = await self.request("GET", url, headers={"Prefer": f"odata.maxpagesize={PAGE_SIZE}"})
            _raise_for(resp)
            body = loads(resp.text)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise PlatformError("unexpected Business Central collection body")
            for record in body["value"]:
                yield record
            url = body.get("@odata.nextLink")

    def changed_since(self, entity_type: str, since: str | None) -> AsyncIterator[dict[str, Any]]:
        return self.records(entity_type, since=since)

    async def records(self, entity_type: str, *, since: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every record of an entity type; with ``since``, those modified after it (``$filter``)."""
        changed = f"?$filter=lastModifiedDateTime gt {since}" if since else ""
        if entity_type == "payment":
            # Payments are journal lines: read them journal by journal, as BC requires.
            # A line has no currency property: note its customer's (one read of all customers).
            journals = [j["id"] async for j in self.collection("customerPaymentJournals")]
            customers = {c["id"]: c["currencyCode"] async for c in self.collection(CUSTOMER_CURRENCIES)}
            for journal in journals:
                async for record in self.collection(f"customerPaymentJournals({journal})/customerPayments{changed}"):
                    yield await self._noted(record, customers)
            return
        async for record in self.collection(f"{ENTITY_SETS[entity_type]}{changed}"):
            yield record

    async def _get(self, path: str) -> dict[str, Any]:
        resp = await self.request("GET", f"{self._api}/{path}")
        _raise_for(resp)
        value: dict[str, Any] = loads(resp.text)
        return value

    async def get(self, entity_type: str, record_id: str) -> dict[str, Any]:
        record = await self._get(f"{ENTITY_SETS[entity_type]}({record_id})")
        return await self._noted(record, {}) if entity_type == "payment" else record

    async def _noted(self, payment: dict[str, Any], customers: Mapping[str, str]) -> dict[str, Any]:
        """A payment noted with its currency: its customer's, else its applied invoice's (BC books a
        journal line in its customer's currency and states none on the line)."""
        code = payment_currency(payment, customers, {})
        # A customer in the listing with a blank code books in the company's local currency: known,
        # not worth two more requests per payment.
        known = str(payment.get("customerId")) in customers
        for key, entity_set in (("customerId", "customers"), ("appliesToInvoiceId", "salesInvoices")):
            ref = str(payment.get(key) or metadata.EMPTY_GUID)
            if code or known or ref == metadata.EMPTY_GUID:
                continue
            try:
                code = (await self._get(f"{entity_set}({ref})?$select=currencyCode")).get("currencyCode") or None
            except RejectedError:
                continue  # gone meanwhile: the next reference (or the context) names the currency
        return with_currency(payment, code)

    async def patch(self, entity_type: str, record_id: str, fields: dict[str, Any], etag: str) -> dict[str, Any]:
        """PATCH with If-Match; StaleError when the record changed since `etag` was read."""
        body = writable_body(entity_type, fields)
        resp = await self.request(
            "PATCH",
            f"{self._api}/{ENTITY_SETS[entity_type]}({record_id})",
            headers={"If-Match": etag, "Content-Type": "application/json"},
            content=dumps(body),
        )
        # Request_EntityChanged is a 409 in Microsoft's status table and a 412 in places of the
        # product docs: both mean stale, except a 409 about something else (duplicate key).
        if resp.status_code == 412 or (resp.status_code == 409 and _error_code(resp) == "Request_EntityChanged"):
            raise StaleError("Another user has already changed the record.", status=resp.status_code)
        _raise_for(resp)
        value: dict[str, Any] = loads(resp.text)
        return value

    async def fetch(self, entity_type: str, stored: Mapping[str, Any]) -> dict[str, Any]:
        return await self.get(entity_type, str(stored["id"]))

    async def write(
        self, entity_type: str, stored: Mapping[str, Any], changes: dict[str, Any], *, overwrite: bool
    ) -> tuple[dict[str, Any], WriteStatus]:
        """PATCH with If-Match = the stored ETag (`*` to overwrite); a stale write reads the record to
        tell a lost response of ours from somebody else's change."""
        record_id = str(stored["id"])
        if not changes:
            return dict(stored), "already"
        etag = "*" if overwrite else str(stored.get("@odata.etag") or "*")
        try:
            written = await self.patch(entity_type, record_id, changes, etag)
        except StaleError:
            remote = await self.get(entity_type, record_id)
            return remote, ("recovered" if holds(remote, changes) else "conflict")
        if entity_type == "payment":
            # Keep the currency note while the customer stays; a new customer is looked up.
            same = written.get("customerId") == stored.get("customerId") and stored.get(CURRENCY_ANNOTATION)
            noted = str(stored[CURRENCY_ANNOTATION]) if same else None
            written = with_currency(written, noted) if noted else await self._noted(written, {})
        return written, "written"

    async def create(self, entity_type: str, record: Mapping[str, Any], marker: str) -> dict[str, Any]:
        """POST a new record to its entity set (payments: to a payment journal, the record's or the
        company's first). Business Central has no free idempotency field: a create whose answer was
        lost is found again by its business key (``find``), which the record carries."""
        body = {k: v for k, v in writable_body(entity_type, record).items() if v is not None}
        path = ENTITY_SETS[entity_type]
        if entity_type == "payment":
            journal = str(body.pop("journalId", "") or "")
            if not journal or journal == metadata.EMPTY_GUID:
                journal = next(iter([j["id"] async for j in self.collection("customerPaymentJournals")]), "")
            if not journal:
                raise RejectedError("Business Central has no customer payment journal to create the payment in")
            path = f"customerPaymentJournals({journal})/customerPayments"
        resp = await self.request(
            "POST", f"{self._api}/{path}", headers={"Content-Type": "application/json"}, content=dumps(body)
        )
        _raise_for(resp)
        value: dict[str, Any] = loads(resp.text)
        return await self._noted(value, {}) if entity_type == "payment" else value

    async def delete(self, entity_type: str, stored: Mapping[str, Any]) -> None:
        """DELETE with If-Match = the stored ETag: a record changed since we read it is not deleted
        blind (StaleError). BC refuses what its rules protect (a posted invoice, a customer with
        ledger entries or open documents) with 400 ``Application_DialogException`` and its reason."""
        resp = await self.request(
            "DELETE",
            f"{self._api}/{ENTITY_SETS[entity_type]}({stored['id']})",
            headers={"If-Match": str(stored.get("@odata.etag") or "*")},
        )
        if resp.status_code == 412 or (resp.status_code == 409 and _error_code(resp) == "Request_EntityChanged"):
            raise StaleError("Another user has changed the record since it was read.", status=resp.status_code)
        try:
            _raise_for(resp)
        except RejectedError as err:
            if err.status != 404:
                raise

    async def find(self, entity_type: str, record: Mapping[str, Any], marker: str) -> dict[str, Any] | None:
        """A record with the same strongest business key as ``record`` (``$filter`` on its field, then
        the same normalisation as connect's reconciliation): one keyed in already, or our own
        earlier create whose answer was lost."""
        from platforms.registry import get_platform
        from reconcile.keys import business_keys

        wanted = business_keys("dynamics", entity_type, record)[:1]
        if not wanted:
            return None
        kind = wanted[0].split(":", 1)[0]
        field = next(f for k, f in get_platform("dynamics").business_keys[entity_type] if k == kind and record.get(f))
        value = str(record[field]).replace("'", "''")
        # Journal lines are only readable within a journal batch (BC refuses an unscoped read):
        # search each payment journal in turn.
        sources = (
            [
                f"customerPaymentJournals({j['id']})/customerPayments"
                async for j in self.collection("customerPaymentJournals")
            ]
            if entity_type == "payment"
            else [ENTITY_SETS[entity_type]]
        )
        for source in sources:
            async for candidate in self.collection(f"{source}?$filter={field} eq '{value}'"):
                if business_keys("dynamics", entity_type, candidate)[:1] == wanted:
                    return await self._noted(candidate, {}) if entity_type == "payment" else candidate
        return None


#: The customers' currencies, for the payments read (journal lines state none).
CUSTOMER_CURRENCIES = "customers?$select=id,currencyCode"


def writable_body(entity_type: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """What a PATCH may carry: no annotations (ours or OData's), no read-only or computed property
    (the API pages' ``Editable = false``: BC would answer 400)."""
    fixed = READ_ONLY | metadata.READ_ONLY.get(entity_type, frozenset())
    return {k: v for k, v in fields.items() if k not in fixed and not k.startswith("@")}


_NOT_FOUND: Final = frozenset({"BadRequest_ResourceNotFound", "Internal_RecordNotFound"})


def _error_code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


def _raise_for(response: httpx.Response) -> None:
    """``raise_for``, with BC's not-found codes as a 404 whatever the status says: a key segment
    naming no record is ``BadRequest_ResourceNotFound`` (Microsoft's dynamics-error-codes table)."""
    if response.status_code >= 400 and _error_code(response) in _NOT_FOUND:
        raise RejectedError(f"HTTP 404: {error_message(response)}", status=404, body=_json_body(response))
    raise_for(response)


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def connect(http: httpx.AsyncClient, live: Mapping[str, Any], secrets: Mapping[str, str]) -> DynamicsClient:
    """The connector of a live connection (its settings and decrypted credentials)."""
    return DynamicsClient(
        http,
        base_url=live["base_url"],
        tenant=live["tenant"],
        environment=live["environment"],
        company_id=live["company_id"],
        client_id=secrets["client_id"],
        client_secret=secrets["client_secret"],
        auth_url=live.get("auth_url"),
    )
