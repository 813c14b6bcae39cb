"""The raw-database baseline: the SQL of one propagation, executed directly, no Temporal, no HTTP.

The statements are the product's own (the helpers of store/propagate.py and store/customers.py),
in the same transactions (autocommit where the product runs a statement alone), in order, on Core
connections as the product uses them: what POST /propagate (authenticate; rate limit + idempotency
+ load) and PropagateWorkflow's activities (canonical update, a fan-out per platform, record) send
to PostgreSQL for one canonical-mode change of an entity mapped on two platforms. The Python around
them (patch validation, rendering the platform record) is left out: the platform record written is
the stored one with the changed field.

Two variants: a fresh connection per step from a pool with ``pool_pre_ping`` (what the API's engine
does, one ``SELECT 1`` per checkout) and without the ping (the worker's).
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
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from canonical.jsonio import dumps_text
from models.propagate import FanOutInput, FanOutResult, PropagateInput
from platforms.registry import get_platform
from propagation.logic import apply_patch
from store import propagate as q
from store.customers import find_key_owner
from store.engine import normalize_url

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
        # The product's combined statements as the driver receives them (compiled placeholders).
        self.known = {str(stmt.compile(dialect=engine.dialect)): name for stmt, name in KNOWN}
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["stmt_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.enabled:
            name = self.known.get(statement) or label(statement)
            self.times[name].append(time.perf_counter() - conn.info.pop("stmt_t0"))


# The product's multi-part statements, by what they do.
KNOWN = [
    (q.ADMIT, "admit: rate limit + idempotency + entity"),
    (q.BEGIN_UPDATE, "begin_update: lock canonical, targets"),
    (q.SAVE_UPDATE, "save_update: canonical + propagation"),
    (q.OPEN_FAN_OUT, "open_fan_out: outage, lock, snapshot, ids"),
    (q.CLOSE_FAN_OUT, "close_fan_out: record, write log, target"),
]


def label(statement: str) -> str:
    """A statement's first words and main table."""
    flat = " ".join(statement.split())
    verb = flat.split(" ", 1)[0].upper()
    if verb == "SELECT" and "rate_limit_hit" in flat:
        return "SELECT rate_limit_hit()"
    match = re.search(r"(?:FROM|INTO|UPDATE)\s+(\w+)", flat, re.IGNORECASE)
    table = match.group(1) if match else "?"
    return f"{verb} {table}" + (" FOR UPDATE" if "FOR UPDATE" in flat.upper() else "")


class Counter:
    def __init__(self) -> None:
        self.transactions = 0


async def one_propagation(
    engine: AsyncEngine, entity: Entity, n: int, result: dict[str, Any], count: Counter
) -> tuple[float, float]:
    """One propagation's SQL; returns (seconds of the API part, seconds of the workflow part)."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    customer = uuid.UUID(entity.customer_id)
    propagation_id = f"prop_raw{uuid.uuid4().hex[:20]}"
    notes = f"raw change {n} {propagation_id}"
    t0 = time.perf_counter()
    # POST /propagate: authenticate, then rate limit + idempotency + load, one autocommit connection.
    async with autocommit.connect() as conn:
        owner = await find_key_owner(conn, entity.api_key)
        assert owner is not None
        found = await q.admit(
            conn,
            customer,
            bucket=f"propagate:{customer}",
            limit=1_000_000,
            window_seconds=60,
            idempotency_key=None,
            canonical_id=entity.canonical_id,
            platform=None,
            platform_id=None,
        )
        assert found.data is not None
    count.transactions += 2
    t1 = time.perf_counter()
    # apply_canonical_update
    async with engine.begin() as conn:
        state = await q.begin_update(conn, propagation_id, customer, entity.canonical_id, None)
        assert state.data is not None and state.version is not None
        data, updated = apply_patch(state.data, {"notes": notes})
        version = state.version + 1
        params = PropagateInput(
            propagation_id=propagation_id,
            customer_id=entity.customer_id,
            canonical_id=entity.canonical_id,
            entity_type="payment",
            format="canonical",
            canonical_patch={"notes": notes},
            request={"canonical_id": entity.canonical_id, "entity_type": "payment", "data": {"notes": notes}},
        )
        await q.save_update(conn, params, customer, version=version, updated_fields=updated, canonical_after=data)
    count.transactions += 1
    # fan_out, per platform (the workflow runs them concurrently; here one after the other)
    for platform in state.targets:
        async with engine.begin() as conn:
            target = await q.open_fan_out(
                conn, propagation_id, customer, entity.canonical_id, platform, version,
                get_platform(platform).number_reference(),
            )
            assert target.row_id is not None and target.data is not None
            record = dumps_text({**target.data, NATIVE_FIELD[platform]: notes})
            await q.close_fan_out(
                conn,
                customer,
                FanOutInput(
                    propagation_id=propagation_id,
                    customer_id=entity.customer_id,
                    canonical_id=entity.canonical_id,
                    entity_type="payment",
                    platform=platform,
                    version=version,
                ),
                FanOutResult(platform=platform, status="synced", platform_id=target.platform_id, data=record),
                write=(target.row_id, record),
                logged_fields=sorted(target.fields),
            )
        count.transactions += 1
    # record_outcome
    async with autocommit.connect() as conn:
        await q.finish(conn, propagation_id, "synced", {**result, "propagation_id": propagation_id})
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
    clock = StatementClock(engine)
    count = Counter()
    api_part = workflow_part = 0.0
    each: list[float] = []
    try:
        # Warm-up: connections, prepared plans, caches.
        for i, entity in enumerate(entities[: max(concurrency, 4)]):
            await one_propagation(engine, entity, -i, result, Counter())
        todo = iter(range(n))
        clock.enabled = True

        async def client(mine: list[Entity]) -> None:
            nonlocal api_part, workflow_part
            for k in todo:
                t0 = time.perf_counter()
                a, w = await one_propagation(engine, mine[k % len(mine)], k, result, count)
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
