"""A platform emulator for the sync soak, over real HTTP in its own process.

Run: ``.venv/bin/python -m bench.sync.emulator procore|dynamics --port P [--payments N]``

The emulator is the product's (``create_procore_app`` / ``create_dynamics_app``: same routes, rules,
webhooks and control interface) with three changes made from outside:

* its records are the synthetic data set ``synthetic:<payments>`` (``platforms.synthetic``; per 1,000
  payments 50 projects, 40 customers, 125 contracts, 1,000 invoices), Business Central keeping its demo
  payment journals. The fields the soak edits and compares are made equal on both platforms
  (``align``), so a connect leaves nothing to disagree about, and the records' last-modified stamps
  are spread a minute apart (``modified``), as real data's are;
* rate limits are raised, so platform throttling dominates neither the soak nor the delta pass (the
  bench prints the request rates it saw against the platforms' real limits instead), and Procore's
  project-scoped lists are served from an index (``index_project_lists``: same answers, without a
  scan of every record per request, which made 100,000 payments take hours), as are Business
  Central's ``lastModifiedDateTime`` filters (``index_modified_since``);
* every platform request (not ``/_control``) is counted: ``GET /_bench/requests`` answers
  ``{"total": N, "by": {"GET contract_payments": n, ...}}``, ``DELETE /_bench/requests`` resets.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.dynamics import create_dynamics_app
from emulators.odata import ODataError, parse_filter, timestamp
from emulators.procore import ProcoreRateLimit, create_procore_app
from models.connect import SEED_ORDER
from platforms.dynamics.demo_data import payment_journals, weak_etag
from platforms.synthetic import sizes, synthetic_records

BENCH_PREFIX = "/_bench"
LAST_MODIFIED = datetime(2026, 6, 1, tzinfo=UTC)
ENTITY_OFFSET = {"project": 1, "customer": 2, "contract": 3, "invoice": 4, "payment": 5}
CITIES = ("Doha", "Lusail", "Al Wakra", "Al Khor", "Mesaieed", "Dukhan")
_KEY = re.compile(r"\([^)]*\)")
_NUMBER = re.compile(r"/\d+(?=/|$)")


# --- the data set -----------------------------------------------------------------------------


def align(entity_type: str, i: int, procore: dict[str, Any], dynamics: dict[str, Any]) -> None:
    """Give the i-th record pair the same values on both platforms in every field the soak edits
    and compares (``bench.sync.fields``); varied per record, so an edit is never a no-op by chance."""
    if entity_type == "project":
        dynamics["displayName"] = procore["name"]
    elif entity_type == "customer":
        city = CITIES[i % len(CITIES)]
        email, phone = f"ap{i}@vendor{i}.qa", f"+974 44{i % 1_000_000:06d}"
        website, address, postal = f"https://vendor{i}.qa", f"Building {i}, Street {i % 97}", f"{10000 + i % 90000}"
        procore.update(city=city, email_address=email, business_phone=phone, website=website, address=address, zip=postal)
        dynamics.update(
            displayName=procore["name"],
            city=city,
            email=email,
            phoneNumber=phone,
            website=website,
            addressLine1=address,
            postalCode=postal,
        )
    elif entity_type == "contract":
        day = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"
        procore["contract_date"] = day
        dynamics["orderDate"] = day
    elif entity_type == "invoice":
        day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
        procore["billing_date"] = day
        dynamics["invoiceDate"] = day
    elif entity_type == "payment":
        day, notes = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", f"Synthetic payment {i}"
        procore.update(date=day, notes=notes)
        dynamics.update(postingDate=day, description=notes)


def modified(entity_type: str, i: int, n: int) -> datetime:
    """When the i-th of n records of a type was last modified: a minute apart, the last one at
    ``LAST_MODIFIED`` (the synthetic set's templates give every record the same stamp, which would
    put all of them inside every delta pass's overlap window; real data is spread over time)."""
    return LAST_MODIFIED - timedelta(minutes=n - i, seconds=ENTITY_OFFSET[entity_type])


def aligned_records(platform: str, entity_type: str, payments: int) -> Iterator[dict[str, Any]]:
    """The platform's synthetic records of a type, aligned with the other platform's (see ``align``)."""
    n = sizes(payments)[entity_type]
    pairs = zip(
        synthetic_records("procore", entity_type, payments=payments),
        synthetic_records("dynamics", entity_type, payments=payments),
        strict=True,
    )
    for i, (procore, dynamics) in enumerate(pairs):
        align(entity_type, i, procore, dynamics)
        stamp = modified(entity_type, i, n)
        if platform == "procore":
            procore["updated_at"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            yield procore
            continue
        dynamics["lastModifiedDateTime"] = timestamp(stamp)
        # The synthetic set is made for sandbox connects: a live emulator's records carry their own
        # ETag and none of the client's annotations.
        for key in [k for k in dynamics if k.startswith("@structural.")]:
            del dynamics[key]
        dynamics["@odata.etag"] = weak_etag(str(dynamics["id"]), str(dynamics["lastModifiedDateTime"]))
        yield dynamics


def index_project_lists(core: Any) -> None:
    """Serve Procore's project-scoped lists from a per-project index of the records.

    The emulator answers a list by scanning every record of the type (0.12 s per contract payments
    page at 100,000 payments), and a live connect or delta pass of Procore asks for one list per
    project and per contract: 12,500 payment lists at that size, half an hour of emulator time. Here
    the scan sees only the project's records (the answer is the same: the scan's first step is that
    project filter); the index is rebuilt whenever a type's record count changes."""
    original = core.listing
    built: dict[str, tuple[int, dict[Any, dict[str, Any]]]] = {}

    def by_project(entity_type: str) -> dict[Any, dict[str, Any]]:
        records = core.records[entity_type]
        if entity_type not in built or built[entity_type][0] != len(records):
            groups: dict[Any, dict[str, Any]] = defaultdict(dict)
            for record_id, record in records.items():
                project = record.get("project")
                groups[project.get("id") if isinstance(project, dict) else record.get("project_id")][record_id] = record
            built[entity_type] = (len(records), groups)
        return built[entity_type][1]

    def listing(request: Any, resource: Any, project_id: int | None, template: str) -> Any:
        if not resource.project_scoped or project_id is None:
            return original(request, resource, project_id, template)
        everything = core.records[resource.entity_type]
        # Synchronous from here to the answer: no other request sees the narrowed store.
        core.records[resource.entity_type] = by_project(resource.entity_type).get(project_id, {})
        try:
            return original(request, resource, project_id, template)
        finally:
            core.records[resource.entity_type] = everything

    core.listing = listing


def index_modified_since(core: Any) -> None:
    """Narrow Business Central's ``lastModifiedDateTime gt|ge <stamp>`` lists before the emulator's
    filter runs.

    The emulator evaluates a ``$filter`` on every record of the set (about 1 s for 100,000 invoices
    and 100,000 payments on this machine), where BC answers from an index: at that size a delta pass's
    reads were mostly the emulator's scan. Here the set is first cut to the records stamped at or
    after the stamp (a text compare: BC's stamps are fixed-width, ``timestamp``), and the emulator's
    own filter then answers from those (the same answer: it keeps only what the full filter keeps)."""
    original = core.collection

    def collection(request: Any, target: Any, base: str) -> Any:
        text = request.query_params.get("$filter")
        try:
            comparisons = parse_filter(text) if text else []
        except ODataError:
            comparisons = []
        since = [
            c.value
            for c in comparisons
            if c.field == "lastModifiedDateTime" and c.op in ("gt", "ge") and isinstance(c.value, datetime)
        ]
        if not since:
            return original(request, target, base)
        moment = max(since)
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        floor = timestamp(moment - timedelta(milliseconds=1))  # a millisecond early: never narrower
        entity_type = target.entity_set.entity_type
        everything = core.records[entity_type]
        # Synchronous from here to the answer: no other request sees the narrowed store.
        core.records[entity_type] = {
            key: record for key, record in everything.items() if str(record.get("lastModifiedDateTime") or "") >= floor
        }
        try:
            return original(request, target, base)
        finally:
            core.records[entity_type] = everything

    core.collection = collection


def loaded_app(platform: str, payments: int | None) -> FastAPI:
    if platform == "procore":
        app = create_procore_app(rate_limit=ProcoreRateLimit(hourly=10**9, spike=10**9))
    else:
        app = create_dynamics_app(requests_per_window=10**9, max_concurrent=50, max_queue=10_000)
    if payments is not None:
        core = app.state.core

        def seed() -> dict[str, list[dict[str, Any]]]:
            records = {t: list(aligned_records(platform, t, payments)) for t in SEED_ORDER}
            if platform == "dynamics":
                records["journal"] = payment_journals()
            return records

        core._seed = seed  # what /_control/reset restores too
        core.reset()
        if platform == "procore":
            index_project_lists(core)
        else:
            index_modified_since(core)
    return app


# --- the request counter ------------------------------------------------------------------------


def request_kind(method: str, path: str) -> str:
    """``GET contract_payments``, ``PATCH customerPayments``, ``POST token``: a request's resource
    without ids or scope."""
    bare = _NUMBER.sub("", _KEY.sub("", path)).rstrip("/")
    return f"{method} {bare.rsplit('/', 1)[-1] or '/'}"


class RequestCounter:
    """Counts platform requests (everything but the control interfaces) and serves the counts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(BENCH_PREFIX):
                await self._answer(scope, receive, send)
                return
            if not path.startswith("/_control"):
                self.counts[request_kind(scope["method"], path)] += 1
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if scope["path"] != f"{BENCH_PREFIX}/requests":
            response = JSONResponse({"detail": "not found"}, status_code=404)
        elif scope["method"] == "DELETE":
            self.counts.clear()
            response = Response(status_code=204)
        else:
            response = JSONResponse({"total": sum(self.counts.values()), "by": dict(self.counts.most_common())})
        await response(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("platform", choices=("procore", "dynamics"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--payments", type=int, default=None, help="synthetic data set size (default: demo data)")
    args = parser.parse_args()
    app = RequestCounter(loaded_app(args.platform, args.payments))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
