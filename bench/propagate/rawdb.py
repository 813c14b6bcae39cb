"""The raw-database baseline: the SQL of one propagation, executed directly, no Temporal, no HTTP.

The statements are the product's own (the helpers of store/propagate.py, store/customers.py and
api/ratelimit.py, plus the sandbox-outage UPDATE of activities/propagate.py, copied), in the same
transactions, in order, on one SQLAlchemy connection: what POST /propagate (authenticate, rate
limit, load) and PropagateWorkflow's activities (canonical update, a fan-out per platform, record)
send to PostgreSQL for one canonical-mode change of an entity mapped on two platforms. The Python
around them (patch validation, rendering the platform record) is left out: the platform record
written is the stored one with the changed field.

Two variants: a fresh connection per transaction from a pool with ``pool_pre_ping`` (what
store/engine.py does, one ``SELECT 1`` per checkout) and without the ping.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from api import ratelimit
from canonical.jsonio import dumps_text
from propagation.logic import apply_patch
from store import propagate as q
from store.customers import find_key_owner
from store.engine import normalize_url

OUTAGE_SQL = text(
    """
    UPDATE connections
       SET settings = jsonb_set(settings, '{sandbox,fail_writes}',
                                to_jsonb((settings #>> '{sandbox,fail_writes}')::int - 1))
     WHERE customer_id = :c AND platform = :p AND mode = 'sandbox'
       AND COALESCE((settings #>> '{sandbox,fail_writes}')::int, 0) > 0
    RETURNING 1
    """
)
REFERENCE_FIELDS = ("project_id", "customer_id", "contract_id", "invoice_id", "employee_id")
NATIVE_FIELD = {"procore": "notes", "dynamics": "description"}


@dataclass(frozen=True)
class Entity:
    customer_id: str
    api_key: str
    canonical_id: str


@dataclass
class RawResult:
    label: str
    concurrency: int
    propagations: int
    seconds: float  # wall time of the loop
    per_propagation: list[float]  # seconds, each
    api_part: float  # summed seconds of the API's statements
    workflow_part: float  # summed seconds of the activities' statements
    transactions: int  # per propagation
    statements: int  # per propagation
    by_statement: dict[str, list[float]] = field(default_factory=dict)  # seconds per execution, by statement
    client_cpu: float = 0.0  # CPU seconds of this (Python, SQLAlchemy + psycopg) process, per propagation
    server_cpu: float = 0.0  # CPU seconds of PostgreSQL, per propagation


class StatementClock:
    """Time of every statement the engine sends (cursor execute to result), by a short label."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.enabled = False
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["stmt_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.enabled:
            self.times[label(statement)].append(time.perf_counter() - conn.info.pop("stmt_t0"))


def label(statement: str) -> str:
    """A statement's first words and its main table, e.g. `SELECT ... FROM propagations`."""
    flat = " ".join(statement.split())
    verb = flat.split(" ", 1)[0].upper()
    if verb == "SELECT" and "rate_limit_hit" in flat:
        return "SELECT rate_limit_hit()"
    match = re.search(r"(?:FROM|INTO|UPDATE)\s+(\w+)", flat, re.IGNORECASE)
    table = match.group(1) if match else "?"
    tail = ""
    if "FOR UPDATE" in flat.upper():
        tail = " FOR UPDATE"
    elif "platform_objects po" in flat and verb == "SELECT":
        tail = " JOIN platform_objects"
    elif "updated_fields FROM propagations" in flat:
        tail = " (fields_between)"
    elif "canonical_after FROM propagations" in flat and "canonical_version =" in flat:
        tail = " (snapshot_at)"
    elif "DISTINCT m.platform" in flat:
        tail = " (fan_out_targets)"
    return f"{verb} {table}{tail}"


class Counter:
    def __init__(self) -> None:
        self.transactions = 0


async def one_propagation(
    maker: async_sessionmaker[AsyncSession], entity: Entity, n: int, result: dict[str, Any], count: Counter
) -> tuple[float, float]:
    """One propagation's SQL; returns (seconds of the API part, seconds of the workflow part)."""
    customer = uuid.UUID(entity.customer_id)
    propagation_id = f"prop_raw{uuid.uuid4().hex[:20]}"
    notes = f"raw change {n} {propagation_id}"
    t0 = time.perf_counter()
    # POST /propagate: authenticate + rate limit (committed), then load the entity (rolled back).
    async with maker() as s:
        owner = await find_key_owner(s, entity.api_key)
        assert owner is not None
        await ratelimit.hit(s, f"propagate:{customer}", 1_000_000)
        await s.commit()
        current = await q.load_canonical(s, customer, entity.canonical_id)
        assert current is not None
        await s.rollback()
    count.transactions += 2
    t1 = time.perf_counter()
    # apply_canonical_update
    async with maker() as s, s.begin():
        await q.existing_update(s, propagation_id)
        row = await q.lock_canonical(s, customer, entity.canonical_id)
        data, updated = apply_patch(row.data, {"notes": notes})
        version = row.version + 1
        await q.save_canonical(s, customer, entity.canonical_id, data, version)
        request = {"canonical_id": entity.canonical_id, "entity_type": "payment", "data": {"notes": notes}}
        await q.insert_propagation(
            s,
            propagation_id=propagation_id,
            customer_id=customer,
            canonical_id=entity.canonical_id,
            entity_type="payment",
            format_="canonical",
            source_platform=None,
            idempotency_key=None,
            request_hash="0" * 64,
            request=request,
            status="applied",
            version=version,
            updated_fields=updated,
            canonical_after=data,
        )
        targets = await q.fan_out_targets(s, customer, entity.canonical_id, None)
        await q.connection_modes(s, customer, targets)
    count.transactions += 1
    # fan_out, per platform (the workflow runs them concurrently; here one after the other)
    for platform in targets:
        async with maker() as s, s.begin():
            await s.execute(OUTAGE_SQL, {"c": customer, "p": platform})
        async with maker() as s, s.begin():
            await q.target_outcome(s, propagation_id, platform)
            target = await q.lock_target(s, customer, entity.canonical_id, platform)
            await q.connection_modes(s, customer, [platform])
            fields = await q.fields_between(s, customer, entity.canonical_id, target.applied_version, version)
            snapshot = await q.snapshot_at(s, customer, entity.canonical_id, version)
            refs = {snapshot[f] for f in REFERENCE_FIELDS if isinstance(snapshot.get(f), str)}
            await q.native_ids(s, customer, platform, refs)
            record = {**target.data, NATIVE_FIELD[platform]: notes}
            await q.write_platform_object(s, target.row_id, record, version)
            await q.log_write(
                s,
                customer_id=customer,
                propagation_id=propagation_id,
                platform=platform,
                platform_id=target.platform_id,
                version=version,
                fields=sorted(fields),
            )
            await q.save_target(
                s,
                propagation_id,
                platform,
                status="synced",
                platform_id=target.platform_id,
                data=dumps_text(record),
                error=None,
                conflict_data=None,
            )
        count.transactions += 2
    # record_outcome
    async with maker() as s, s.begin():
        await q.finish(s, propagation_id, "synced", {**result, "propagation_id": propagation_id})
    count.transactions += 1
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def make_raw_engine(url: str, *, pre_ping: bool, pool_size: int) -> AsyncEngine:
    return create_async_engine(normalize_url(url), pool_size=pool_size, max_overflow=0, pool_pre_ping=pre_ping)


async def raw_loop(
    url: str,
    entities: list[Entity],
    result: dict[str, Any],
    n: int,
    *,
    pre_ping: bool,
    concurrency: int = 1,
    server_cpu: Callable[[], float] = lambda: 0.0,
) -> RawResult:
    """`n` propagations over `entities`; with concurrency > 1, each task owns its own entities."""
    engine = make_raw_engine(url, pre_ping=pre_ping, pool_size=max(1, concurrency))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    clock = StatementClock(engine)
    count = Counter()
    api_part = workflow_part = 0.0
    each: list[float] = []
    try:
        # Warm-up: connections, prepared plans, caches.
        for i, entity in enumerate(entities[: max(concurrency, 4)]):
            await one_propagation(maker, entity, -i, result, Counter())
        todo = iter(range(n))
        clock.enabled = True

        async def client(mine: list[Entity]) -> None:
            nonlocal api_part, workflow_part
            for k in todo:
                t0 = time.perf_counter()
                a, w = await one_propagation(maker, mine[k % len(mine)], k, result, count)
                each.append(time.perf_counter() - t0)
                api_part += a
                workflow_part += w

        started, cpu0, server0 = time.perf_counter(), time.process_time(), server_cpu()
        await asyncio.gather(*(client(entities[i::concurrency]) for i in range(concurrency)))
        seconds = time.perf_counter() - started
        client_seconds, server_seconds = time.process_time() - cpu0, server_cpu() - server0
    finally:
        await engine.dispose()
    return RawResult(
        label=f"{'with' if pre_ping else 'without'} pool_pre_ping, concurrency {concurrency}",
        concurrency=concurrency,
        propagations=n,
        seconds=seconds,
        per_propagation=each,
        api_part=api_part,
        workflow_part=workflow_part,
        transactions=count.transactions // n,
        statements=round(sum(len(t) for t in clock.times.values()) / n),
        by_statement=dict(clock.times),
        client_cpu=client_seconds / n,
        server_cpu=server_seconds / n,
    )


async def round_trip(url: str, n: int = 500) -> float:
    """Seconds of one `SELECT 1` round trip (what a pool_pre_ping costs), median of `n`."""
    engine = make_raw_engine(url, pre_ping=False, pool_size=1)
    times = []
    try:
        async with engine.connect() as conn:
            for _ in range(n):
                t0 = time.perf_counter()
                await conn.execute(text("SELECT 1"))
                times.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    times.sort()
    return times[len(times) // 2]
