"""Judging the soak from what the platforms saw: the emulators' write logs (every applied write, the
engine's marked ``source: api``) and delivery logs (every webhook delivery, dropped ones included),
plus the engine's canonical objects (GET /api/v1/objects) for the three-way comparison."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import psycopg

from bench.sync import engine
from bench.sync.fields import (
    BC_LOCAL_CURRENCY,
    ENTITY_TYPES,
    OTHER,
    SYNCED_FIELDS,
    canonical_value,
    counterpart_expected,
    key,
    native_value,
    same,
)
from bench.sync.soak import Context, Create, Delete, Edit, Pair, SoakLog, epoch
from bench.sync.stack import Customer, Emulator

Path = Literal["webhook", "delta", "unknown"]

#: Fields that carry each type's business key (what a duplicate shares), per platform.
KEY_FIELDS = {
    "procore": {
        "project": "project_number",
        "customer": "name",
        "contract": "number",
        "invoice": "invoice_number",
        "payment": "check_number",
    },
    "dynamics": {
        "project": "number",
        "customer": "displayName",
        "contract": "externalDocumentNumber",
        "invoice": "externalDocumentNumber",
        "payment": "documentNumber",
    },
}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Logs:
    """Both emulators' logs at the end of the soak."""

    writes: dict[str, list[dict[str, Any]]]
    deliveries: dict[str, list[dict[str, Any]]]
    records: dict[str, dict[str, list[dict[str, Any]]]]  # platform -> type -> records


async def fetch_logs(emulators: dict[str, Emulator]) -> Logs:
    writes, deliveries, records = {}, {}, {}
    for platform, emulator in emulators.items():
        writes[platform] = (await emulator.control("GET", "/writes"))["writes"]
        deliveries[platform] = (await emulator.control("GET", "/deliveries"))["deliveries"]
        records[platform] = {t: (await emulator.control("GET", f"/records/{t}"))["records"] for t in ENTITY_TYPES}
    return Logs(writes, deliveries, records)


# --- edits ------------------------------------------------------------------------------------


@dataclass
class EditResult:
    edit: Edit
    path: Path
    notified: float | None = None  # edit -> a notification of it answered by the API (webhook path)
    latency: float | None = None  # edit -> the other platform reads the new value
    writes: int = 0  # engine writes on the other platform while this was the record's latest edit
    echoes: int = 0  # engine writes back onto the platform the edit was made on
    kill_affected: bool = False
    superseded: bool = False  # not across, and the same field was edited again meanwhile
    #: Not across: the edit's value and the engine's writes on its counterpart (seconds after the
    #: edit, fields and new values), for the report to say what did happen.
    detail: list[str] = field(default_factory=list)


@dataclass
class EditReport:
    results: list[EditResult]
    #: engine updates no edit explains (platform, type, record id, fields): writes to records the soak
    #: created, or writes with no cause (should be none)
    unattributed: list[tuple[str, str, str, list[str]]]

    def latencies(self, path: Path, *, kill_affected: bool = False) -> list[float]:
        return [
            r.latency
            for r in self.results
            if r.path == path and r.latency is not None and r.kill_affected == kill_affected
        ]

    @property
    def lost(self) -> list[EditResult]:
        """Never reached the other platform, and no later edit of the field took its place."""
        return [r for r in self.results if r.latency is None and not r.superseded]

    @property
    def counted(self) -> list[EditResult]:
        """The edits whose writes are counted (a superseded one may rightly have none)."""
        return [r for r in self.results if not r.superseded]


def _procore_path(edit: Edit, deliveries: list[dict[str, Any]]) -> tuple[Path, float | None]:
    """Procore: one event per change; matched by record and event time (the change's moment)."""
    candidates = []
    for line in deliveries:
        body = line.get("body")
        if line["kind"] != "event" or not isinstance(body, dict):
            continue
        if str(body.get("resource_id")) != edit.pair.procore or "timestamp" not in body:
            continue
        gap = abs(epoch(str(body["timestamp"])) - edit.at)
        if gap < 0.5:
            candidates.append((gap, str(body["timestamp"]), line))
    if not candidates:
        return "unknown", None
    stamp = min(candidates, key=lambda c: c[0])[1]  # its duplicates carry the same body
    return _outcome([line for _, s, line in candidates if s == stamp], edit)


def _outcome(lines: list[dict[str, Any]], edit: Edit) -> tuple[Path, float | None]:
    """Webhook when a delivery of the edit's notification got through (and when it first did)."""
    delivered = [epoch(str(line["completed_at"])) for line in lines if line["outcome"] == "delivered"]
    if delivered:
        return "webhook", min(delivered) - edit.at
    return "delta", None


def _bc_path(edit: Edit, deliveries: list[dict[str, Any]]) -> tuple[Path, float | None]:
    """Business Central: notifications name the record and its lastModifiedDateTime (the version)."""
    lines = []
    suffix = f"({edit.pair.dynamics})"
    for line in deliveries:
        body = line.get("body")
        if line["kind"] != "batch" or not isinstance(body, dict):
            continue
        for item in body.get("value", []):
            if str(item.get("resource", "")).endswith(suffix) and item.get("lastModifiedDateTime") == edit.version:
                lines.append(line)
    if not lines:
        return "unknown", None
    return _outcome(lines, edit)


def _carries(write: dict[str, Any], edit: Edit, platform: str) -> bool:
    change = write["changes"].get(edit.field.native(platform))
    if change is None:
        return False
    value = native_value(edit.field, platform, {edit.field.native(platform): change["new"]}, edit.target_currency)
    return same(edit.field, value, edit.expected)


def analyse_edits(log: SoakLog, logs: Logs, pairs: dict[str, list[Pair]], window: float) -> EditReport:
    """Per edit: its path, latency, writes on the other platform and echoes. ``window``: how long
    before the SIGKILL an edit still counts as in flight at it (the delta-caught goal's bound)."""
    by_native: dict[tuple[str, str], Pair] = {}
    # The pairs left at the end, and those of every edit: a payment edited, then deleted later in
    # the soak, has left the pairs, and its edit's write must still be found.
    for pair in [*(p for typed in pairs.values() for p in typed), *(e.pair for e in log.edits)]:
        by_native[("procore", pair.procore)] = pair
        by_native[("dynamics", pair.dynamics)] = pair
    edits_of: dict[str, list[Edit]] = defaultdict(list)
    for edit in log.edits:
        edits_of[edit.pair.canonical_id].append(edit)
    results = {}
    for e in log.edits:
        deliveries = logs.deliveries[e.source]
        path, notified = _procore_path(e, deliveries) if e.source == "procore" else _bc_path(e, deliveries)
        results[e.seq] = EditResult(e, path, notified)
    unattributed: list[tuple[str, str, str, list[str]]] = []
    writes = sorted(
        ((epoch(w["at"]), platform, w) for platform, ws in logs.writes.items() for w in ws),
        key=lambda item: item[0],
    )
    for at, platform, write in writes:
        if write["source"] != "api" or write["operation"] != "update":
            continue
        found = by_native.get((platform, write["record_id"]))
        before = [e for e in edits_of.get(found.canonical_id, []) if e.at <= at] if found else []
        if not before:
            unattributed.append((platform, write["entity_type"], write["record_id"], sorted(write["changes"])))
            continue
        # The edits this write brings over: made on the other platform, not arrived yet, and the
        # write carries their value (one write may carry several edits of one record: one each).
        carried = [
            e
            for e in before
            if e.target == platform and results[e.seq].latency is None and _carries(write, e, platform)
        ]
        for e in carried:
            results[e.seq].latency = at - e.at
            results[e.seq].writes += 1
        if carried:
            continue
        # Anything else is one write too many: for the record's latest edit, a second write of it
        # (made on the other platform) or an echo (back onto the platform it was made on).
        latest = results[max(before, key=lambda e: e.at).seq]
        if platform == latest.edit.source:
            latest.echoes += 1
        else:
            latest.writes += 1
    for e in log.edits:
        # Edited again on the same field before this edit got across: the later value may win.
        later = [o for o in edits_of[e.pair.canonical_id] if o.at > e.at and o.field == e.field]
        results[e.seq].superseded = results[e.seq].latency is None and bool(later)
    for result in results.values():
        e = result.edit
        if result.latency is not None or result.superseded:
            continue
        result.detail.append(f"edit at {e.at:.3f}: {e.field.native(e.source)} = {e.value!r} (expected {e.expected!r})")
        target = e.pair.native(e.target)
        for at, platform, write in writes:
            if platform == e.target and write["record_id"] == target and write["operation"] == "update":
                changes = {k: v.get("new") if isinstance(v, dict) else v for k, v in write["changes"].items()}
                result.detail.append(f"write {at - e.at:+.3f} s ({write['source']}): {changes}")
    if log.kill_at is not None:
        # In flight at the kill: made before it (recently enough that it should not have arrived
        # yet: an edit older than `window` that had not arrived was late or lost anyway) and not
        # arrived by then; or made while no worker ran.
        restarted = log.restarted_at or log.kill_at
        for result in results.values():
            e = result.edit
            arrived = None if result.latency is None else e.at + result.latency
            pending = arrived is None or arrived > log.kill_at
            result.kill_affected = log.kill_at - window <= e.at <= restarted and pending
    return EditReport(sorted(results.values(), key=lambda r: r.edit.seq), unattributed)


# --- creates ----------------------------------------------------------------------------------


@dataclass
class CreateResult:
    create: Create
    counterparts: list[str]  # the engine's creates on the other platform with the record's key
    echoes: int  # the engine's creates of the same key back on the source platform
    latency: float | None
    reason: str | None = None  # why there is no counterpart (the engine's create record)

    @property
    def duplicates(self) -> int:
        return max(0, len(self.counterparts) - 1) + self.echoes


def analyse_creates(log: SoakLog, logs: Logs) -> list[CreateResult]:
    results = []
    for create in log.creates:
        kind = create.kind
        target = OTHER[kind.source]
        found, echoes, first = [], 0, None
        for platform, field_name in ((target, kind.target_key), (kind.source, kind.source_key)):
            for write in logs.writes[platform]:
                if write["source"] != "api" or write["operation"] != "create":
                    continue
                if write["entity_type"] != kind.entity_type:
                    continue
                change = write["changes"].get(field_name)
                if change is None or key(change["new"]) != create.key:
                    continue
                if platform == target:
                    found.append(write["record_id"])
                    at = epoch(write["at"])
                    first = at if first is None else min(first, at)
                else:
                    echoes += 1
        latency = None if first is None else first - create.at
        results.append(CreateResult(create, found, echoes, latency))
    return results


@dataclass
class DeleteResult:
    delete: Delete
    removed: int  # the engine's deletes of the counterpart (goal: exactly 1)
    echoes: int  # the engine's deletes on the source platform (its record was gone already)
    latency: float | None


def analyse_deletes(log: SoakLog, logs: Logs) -> list[DeleteResult]:
    """Each delete against the write logs: the counterpart deleted by the engine (once), when."""
    results = []
    for deleted in log.deletes:
        removed, echoes, first = 0, 0, None
        for platform in (deleted.target, deleted.source):
            native = deleted.pair.native(platform)
            for write in logs.writes[platform]:
                if write["source"] != "api" or write["operation"] != "delete" or str(write["record_id"]) != native:
                    continue
                if platform == deleted.source:
                    echoes += 1
                    continue
                removed += 1
                at = epoch(write["at"])
                first = at if first is None else min(first, at)
        results.append(DeleteResult(deleted, removed, echoes, None if first is None else first - deleted.at))
    return results


async def explain_missing(
    api: httpx.AsyncClient, customer: Customer, results: list[CreateResult], objects: dict[tuple[str, str], list[Any]]
) -> None:
    """The engine's own reason for each create with no counterpart (its create propagation)."""
    for result in results:
        if result.counterparts:
            continue
        kind = result.create.kind
        mapped = {o["id"]: o for o in objects[(kind.source, kind.entity_type)]}
        obj = mapped.get(result.create.source_id)
        if obj is None:
            result.reason = "never registered by the engine (no canonical object)"
            continue
        outcome = await engine.create_outcome(api, customer, obj["canonical_id"])
        if outcome is None:
            result.reason = "registered, no create propagation recorded"
            continue
        errors = [f"{t['platform']}: {t.get('error')}" for t in outcome.get("targets", []) if t.get("error")]
        result.reason = f"{outcome.get('status')}: {'; '.join(errors) or 'no error recorded'}"


# --- the three-way comparison ---------------------------------------------------------------------


@dataclass
class Disagreement:
    entity_type: str
    canonical_id: str
    procore: str
    dynamics: str
    field: str
    values: tuple[Any, Any, Any]  # canonical, Procore, BC (normalised)


@dataclass
class Comparison:
    compared: int = 0  # objects linked on both platforms
    disagreements: list[Disagreement] = field(default_factory=list)
    orphans: list[tuple[str, str, str]] = field(default_factory=list)  # platform, type, record id
    duplicates: list[tuple[str, str, str, int]] = field(default_factory=list)  # platform, type, key, copies
    objects: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def records_disagreeing(self) -> int:
        return len({d.canonical_id for d in self.disagreements})


def _live(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records that exist (a Procore commitment in the recycle bin does not)."""
    return [r for r in records if not r.get("deleted_at")]


async def compare(ctx: Context, records: dict[str, dict[str, list[dict[str, Any]]]] | None = None) -> Comparison:
    """Canonical vs Procore vs BC on every synced field of every linked object; orphans (a record with
    no counterpart where policy says it should have one) and duplicates (records sharing a business key)."""
    if records is None:
        records = {
            p: {t: (await e.control("GET", f"/records/{t}"))["records"] for t in ENTITY_TYPES}
            for p, e in ctx.emulators.items()
        }
    out = Comparison()
    async with ctx.stack.api() as api:
        for platform in ("procore", "dynamics"):
            for entity_type in ENTITY_TYPES:
                out.objects[(platform, entity_type)] = await engine.objects(api, ctx.customer, platform, entity_type)
    bc_currency = {str(c["id"]): str(c.get("currencyCode") or "") for c in records["dynamics"]["customer"]}
    for entity_type in ENTITY_TYPES:
        native = {p: {str(r["id"]): r for r in _live(records[p][entity_type])} for p in ("procore", "dynamics")}
        linked: dict[str, set[str]] = {"procore": set(), "dynamics": set()}
        seen: set[str] = set()
        for platform in ("procore", "dynamics"):
            for obj in out.objects[(platform, entity_type)]:
                ids = {m["platform"]: str(m["platform_id"]) for m in obj["mappings"]}
                if set(ids) != {"procore", "dynamics"}:
                    continue
                linked["procore"].add(ids["procore"])
                linked["dynamics"].add(ids["dynamics"])
                if obj["canonical_id"] in seen:
                    continue
                seen.add(obj["canonical_id"])
                procore, dynamics = native["procore"].get(ids["procore"]), native["dynamics"].get(ids["dynamics"])
                if procore is None or dynamics is None:
                    continue  # mapped to a record the platform no longer has: an orphan below
                out.compared += 1
                currency = bc_currency.get(str(dynamics.get("customerId")), "") or BC_LOCAL_CURRENCY
                for f in SYNCED_FIELDS[entity_type]:
                    values = (
                        canonical_value(f, obj["data"]),
                        native_value(f, "procore", procore),
                        native_value(f, "dynamics", dynamics, currency),
                    )
                    if not (same(f, values[0], values[1]) and same(f, values[0], values[2])):
                        out.disagreements.append(
                            Disagreement(
                                entity_type, obj["canonical_id"], ids["procore"], ids["dynamics"], f.canonical, values
                            )
                        )
        for platform in ("procore", "dynamics"):
            if counterpart_expected(entity_type, platform):
                out.orphans += [(platform, entity_type, rid) for rid in native[platform] if rid not in linked[platform]]
            counts: dict[str, int] = defaultdict(int)
            for record in native[platform].values():
                value = key(record.get(KEY_FIELDS[platform][entity_type]))
                if value:
                    counts[value] += 1
            out.duplicates += [(platform, entity_type, k, n) for k, n in counts.items() if n > 1]
    return out


# --- the engine's own account (its propagation records), for what went wrong -----------------------


@dataclass
class EngineAccount:
    """What the engine recorded: fan-out and create outcomes that are not `synced`, grouped, and the
    latest propagations of each disagreeing object."""

    not_synced: list[tuple[str, str, str, int]]  # status, platform, error, count
    of_object: dict[str, list[str]]  # canonical id -> its latest propagations, one line each


async def taken_in(dsn: str, customer_id: str, edits: list[Edit]) -> set[int]:
    """The edits the engine took in: a propagation of the object from the edit's platform recorded
    after it (whatever its outcome: a conflict or a refusal is recorded, not lost)."""
    found = set()
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for e in edits:
            row = await (
                await conn.execute(
                    "SELECT 1 FROM propagations WHERE customer_id = %s AND canonical_id = %s AND source_platform = %s "
                    "AND created_at >= to_timestamp(%s) LIMIT 1",
                    (customer_id, e.pair.canonical_id, e.source, e.at - 1.0),
                )
            ).fetchone()
            if row is not None:
                found.add(e.seq)
    return found


async def engine_account(dsn: str, customer_id: str, canonical_ids: list[str]) -> EngineAccount:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        rows = await (
            await conn.execute(
                "SELECT t.status, t.platform, left(coalesce(t.error, ''), 160), count(*) FROM propagation_targets t "
                "JOIN propagations p ON p.id = t.propagation_id WHERE p.customer_id = %s "
                "AND t.status NOT IN ('synced', 'deleted', 'kept') "
                "GROUP BY 1, 2, 3 ORDER BY 4 DESC",
                (customer_id,),
            )
        ).fetchall()
        of_object: dict[str, list[str]] = {}
        for cid in canonical_ids:
            found = await (
                await conn.execute(
                    "SELECT p.created_at, p.source_platform, p.status, p.updated_fields, "
                    "coalesce(string_agg(t.platform || ' ' || t.status || coalesce(': ' || left(t.error, 120), ''), "
                    "'; '), '') FROM propagations p LEFT JOIN propagation_targets t ON t.propagation_id = p.id "
                    "WHERE p.customer_id = %s AND p.canonical_id = %s GROUP BY p.id ORDER BY p.created_at DESC LIMIT 3",
                    (customer_id, cid),
                )
            ).fetchall()
            of_object[cid] = [
                f"{at:%H:%M:%S} from {source}: {status}, fields {fields}, targets [{targets}]"
                for at, source, status, fields, targets in found
            ]
    return EngineAccount([(str(a), str(b), str(c), int(d)) for a, b, c, d in rows], of_object)
