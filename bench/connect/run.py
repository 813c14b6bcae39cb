"""Connect benchmark: a synthetic customer seeded through the real ConnectWorkflow.

Run: ``.venv/bin/python -m bench.connect [--payments N] [--small N] [--quick]``

Starts a throw-away embedded PostgreSQL and a Temporal dev server, runs the production worker
(``python -m worker``) as a subprocess, and connects one synthetic customer (data set
``synthetic:<payments>``: per 1,000 payments 50 projects, 40 customers, 125 contracts and 1,000
invoices, on each platform) with ConnectWorkflow: Procore first, then Business Central, whose
records all link to Procore's. The same connect runs at ``--small`` payments (default a tenth)
for the scaling figure, each size on a fresh worker process.

Seed and reconciliation times are the workflow's own activity durations (ActivityTaskStarted to
ActivityTaskCompleted in its history). Baselines, in the same database, each measured right after
the connect it is compared with (every measured phase, connects included, starts right after a
CHECKPOINT; on a shared machine conditions drift over minutes):

* raw COPY: the rows the seed wrote (same columns and content), read back and held in memory
  beforehand (untimed), then one psycopg ``COPY ... FROM STDIN`` (``write_row``) per platform into
  a scratch table ``LIKE platform_objects INCLUDING ALL`` (same indexes; platform_objects itself has
  no foreign key since migration 0004, its customer is checked once per seed batch);
* plain join: per entity type, the BC records joined to the Procore records on ``match_key``, their
  pairs inserted as the mapping rows reconciliation writes (``INSERT ... SELECT`` into a scratch
  table ``LIKE entity_mappings INCLUDING ALL``).

Also printed, not goals: the join again into a scratch table with entity_mappings' foreign keys
(what the constraints alone cost), and the matching query alone (``SELECT count(*)``).

Goals (GitHub issue 4): seed >= 0.6x raw COPY throughput, reconciliation <= 1.5x the plain join,
worker peak RSS (VmHWM) < 300 MB, and <= 12x the time for 10x the data.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.string import TextLoader
from temporalio.client import Client

from bench.common import (
    Database,
    Span,
    Stopwatch,
    activity_spans,
    cpu_seconds,
    embedded_database,
    mb,
    proc_status_kb,
    start_worker,
    stop_process,
    temporal_address,
    temporal_dev_server,
    wait_for_poller,
)
from models.connect import PLURAL, SEED_ORDER, ConnectInput, ConnectResult
from platforms.synthetic import sizes
from store.connect import PLATFORM_OBJECT_COPY_COLUMNS
from workflows.connect import ConnectWorkflow, connect_workflow_id

PLATFORMS = ("procore", "dynamics")  # connect order: the second one links to the first
GOAL_SEED_VS_COPY = 0.6
GOAL_RECONCILE_VS_JOIN = 1.5
GOAL_PEAK_MB = 300
GOAL_SCALING_PER_10X = 12.0


@dataclass
class ConnectRun:
    platform: str
    wall: float
    result: ConnectResult
    spans: list[Span]

    def total(self, activity: str) -> float:
        return sum(s.seconds for s in self.spans if s.activity == activity)

    def by_type(self, activity: str) -> dict[str | None, float]:
        out: dict[str | None, float] = defaultdict(float)
        for s in self.spans:
            if s.activity == activity:
                out[s.entity_type] += s.seconds
        return out


@dataclass
class SizeRun:
    payments: int
    customer_id: str
    connects: list[ConnectRun] = field(default_factory=list)
    peak_kb: int = 0
    worker_cpu: float = 0.0

    @property
    def wall(self) -> float:
        return sum(c.wall for c in self.connects)

    @property
    def records(self) -> int:
        return sum(sum(c.result.entities.values()) for c in self.connects)

    def seed_seconds(self) -> float:
        return sum(c.total("seed_entities") for c in self.connects)


# --- running the workflow ---------------------------------------------------------------


def create_customer(db: Database, name: str) -> str:
    customer = uuid.uuid4()
    with psycopg.connect(db.dsn) as conn:
        conn.execute(
            "INSERT INTO customers (id, name, environment) VALUES (%s, %s, 'demo')", (customer, name)
        )
    return str(customer)


async def connect_size(
    client: Client, db: Database, payments: int, logs: Path, baselines: Callable[[str, str], None] | None = None
) -> SizeRun:
    """Connect Procore then Business Central for a fresh customer, on a fresh worker process.

    `baselines(customer, platform)` runs after each platform's connect: the baselines are measured
    right after what they are compared with, so both see the same conditions on a shared machine
    (minutes apart, other processes' load and the database's state drift)."""
    customer = create_customer(db, f"bench-{payments}")
    queue = f"bench-connect-{uuid.uuid4().hex[:8]}"
    worker = start_worker(db.url, temporal_address(client), queue, logs / f"worker-{payments}.log")
    run = SizeRun(payments=payments, customer_id=customer)
    try:
        await wait_for_poller(client, queue)
        for platform in PLATFORMS:
            checkpoint(db)
            clock = Stopwatch()
            handle = await client.start_workflow(
                ConnectWorkflow.run,
                ConnectInput(customer_id=customer, platform=platform, dataset=f"synthetic:{payments}"),
                id=connect_workflow_id(customer, platform),
                task_queue=queue,
            )
            result = await handle.result()
            wall = clock.elapsed
            run.connects.append(ConnectRun(platform, wall, result, await activity_spans(handle)))
            if baselines is not None:
                baselines(customer, platform)
        run.peak_kb = proc_status_kb(worker.pid, "VmHWM")
        run.worker_cpu = cpu_seconds(worker.pid)
    finally:
        stop_process(worker)
    check_result(run)
    return run


def check_result(run: SizeRun) -> None:
    expected = {PLURAL[t]: n for t, n in sizes(run.payments).items()}
    for connect in run.connects:
        if connect.result.entities != expected:
            raise SystemExit(f"{connect.platform}: seeded {connect.result.entities}, expected {expected}")
    # Synthetic BC records carry the same business keys as Procore's: every one links.
    linked = run.connects[-1].result.linked
    if linked != expected:
        raise SystemExit(f"{run.connects[-1].platform}: linked {linked}, expected {expected}")


# --- baselines --------------------------------------------------------------------------


def seeded_rows(conn: psycopg.Connection[Any], customer: str, platform: str) -> list[tuple[Any, ...]]:
    """The rows the seed wrote for `platform` (active generation), as the seed's tuples: JSON as
    compact text (orjson, like the seed), keys as a list."""
    columns = ", ".join(f"po.{c}" for c in PLATFORM_OBJECT_COPY_COLUMNS)
    cur = conn.cursor()
    cur.adapters.register_loader("jsonb", TextLoader)
    cur.execute(
        f"""
        SELECT {columns}
          FROM platform_objects po
          JOIN connections c ON c.customer_id = po.customer_id AND c.platform = po.platform
                            AND c.generation = po.generation
         WHERE po.customer_id = %s AND po.platform = %s
         ORDER BY po.id
        """,
        (customer, platform),
    )
    data_at = PLATFORM_OBJECT_COPY_COLUMNS.index("data")
    canonical_at = PLATFORM_OBJECT_COPY_COLUMNS.index("canonical_data")
    rows = []
    for row in cur:
        values = list(row)
        for i in (data_at, canonical_at):
            values[i] = orjson.dumps(orjson.loads(values[i])).decode()
        rows.append(tuple(values))
    return rows


@dataclass
class Baseline:
    rows: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def foreign_keys(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """The foreign keys of one of the real tables, as constraint definitions (CREATE TABLE ... LIKE
    does not copy them). Read from the catalog, so the variants follow the schema's migrations."""
    rows = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(%s AS regclass) AND contype = 'f'"
        " ORDER BY conname",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


# The goals compare with the scratch tables as the brief defines them (no foreign keys); the
# variants with the real tables' foreign keys show what the constraints alone cost.


def checkpoint(db: Database) -> None:
    """Flush dirty pages so each measured phase starts with the same WAL state (no checkpoint half
    done by the previous phase, full-page images for every page it touches first)."""
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


class RawCopy:
    """The raw COPY baseline: one psycopg COPY of the rows the seed wrote for a platform, into a
    scratch table LIKE platform_objects (same columns, types, defaults and indexes; platform_objects
    has no foreign key since migration 0004).

    Measured right after that platform's connect, into an empty table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.plain = Baseline()
        with psycopg.connect(db.dsn) as conn:
            assert not foreign_keys(conn, "platform_objects"), "the baseline would lack platform_objects' constraints"
            conn.execute("DROP TABLE IF EXISTS bench_copy")
            conn.execute("CREATE TABLE bench_copy (LIKE platform_objects INCLUDING ALL)")

    def measure(self, customer: str, platform: str) -> None:
        columns = ", ".join(PLATFORM_OBJECT_COPY_COLUMNS)
        with psycopg.connect(self.db.dsn) as conn:
            rows = seeded_rows(conn, customer, platform)
            conn.commit()
            gc.collect()
            checkpoint(self.db)
            clock = Stopwatch()
            with conn.cursor() as cur, cur.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            self.plain.seconds += clock.elapsed
            self.plain.rows += len(rows)
            print(f"    {platform}: {len(rows):,} rows in {clock.elapsed:.2f} s", flush=True)
            # Emptied again, so the next connect does not run with these copies filling the caches.
            conn.execute("TRUNCATE bench_copy")

    def drop(self) -> None:
        with psycopg.connect(self.db.dsn) as conn:
            conn.execute("DROP TABLE bench_copy")


# The matching query: the join reconciliation makes for single-key types (BC record -> Procore
# record on the normalised business key), nothing else.
PAIRS = """
      FROM platform_objects mine
      JOIN platform_objects theirs ON theirs.customer_id = mine.customer_id AND theirs.entity_type = mine.entity_type
                                  AND theirs.match_key = mine.match_key
"""
MINE = """
     WHERE mine.customer_id = %(c)s AND mine.entity_type = %(t)s AND mine.platform = %(mine)s
       AND theirs.platform = %(theirs)s
"""
# The same join writing its pairs as the mapping rows reconciliation writes (the other record's
# canonical id), into a scratch table with the same columns and indexes (no foreign keys).
LINKS = f"""
    INSERT INTO bench_links (customer_id, canonical_id, platform, entity_type, platform_id, generation, origin)
    SELECT mine.customer_id, m.canonical_id, mine.platform, mine.entity_type, mine.platform_id, mine.generation, false
    {PAIRS}
      JOIN entity_mappings m ON m.customer_id = theirs.customer_id AND m.platform = theirs.platform
                            AND m.entity_type = theirs.entity_type AND m.platform_id = theirs.platform_id
                            AND m.generation = theirs.generation
    {MINE}
"""


@dataclass
class JoinBaselines:
    """Per entity type: the matching query alone (SELECT count(*)), and the same join inserting
    its pairs as mapping rows (INSERT ... SELECT) into a scratch table LIKE entity_mappings, and
    into one that also has entity_mappings' foreign keys."""

    pairs: int = 0
    select: dict[str, float] = field(default_factory=dict)
    insert: dict[str, float] = field(default_factory=dict)
    insert_fk: dict[str, float] = field(default_factory=dict)


def plain_join(db: Database, customer: str, entity_types: Iterable[str]) -> JoinBaselines:
    out = JoinBaselines()
    params = {"c": customer, "mine": PLATFORMS[1], "theirs": PLATFORMS[0]}
    with psycopg.connect(db.dsn) as conn:
        conn.execute("ANALYZE platform_objects")  # the baselines plan with fresh statistics
        conn.execute("ANALYZE entity_mappings")
        for table in ("bench_links", "bench_links_fk"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} (LIKE entity_mappings INCLUDING ALL)")
        for constraint in foreign_keys(conn, "entity_mappings"):
            conn.execute(f"ALTER TABLE bench_links_fk ADD {constraint}")
        conn.commit()
        checkpoint(db)
        for entity_type in entity_types:
            type_params = {**params, "t": entity_type}
            clock = Stopwatch()
            pairs = conn.execute(f"SELECT count(*) {PAIRS} {MINE}", type_params).fetchone()
            conn.commit()
            out.select[entity_type] = clock.elapsed
            out.pairs += int(pairs[0]) if pairs else 0
            for table, seconds in (("bench_links", out.insert), ("bench_links_fk", out.insert_fk)):
                clock = Stopwatch()
                conn.execute(LINKS.replace("bench_links", table), type_params)
                conn.commit()
                seconds[entity_type] = clock.elapsed
        conn.execute("DROP TABLE bench_links, bench_links_fk")
        conn.commit()
    return out


# --- report -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_detail(run: SizeRun) -> None:
    n = sizes(run.payments)
    print(f"  {'':<10}" + "".join(f"{p + ' seed':>24}{'reconcile':>11}" for p in PLATFORMS))
    for entity_type in SEED_ORDER:
        cells = []
        for connect in run.connects:
            seed = connect.by_type("seed_entities")[entity_type]
            rec = connect.by_type("reconcile_entities")[entity_type]
            cells.append(f"{seed:8.2f} s {n[entity_type] / seed:>9,.0f}/s{rec:9.2f} s")
        print(f"  {PLURAL[entity_type]:<10}" + "".join(cells))
    for connect in run.connects:
        other = sum(s.seconds for s in connect.spans if s.activity not in ("seed_entities", "reconcile_entities"))
        retries = sum(1 for s in connect.spans if s.attempt > 1)
        print(
            f"  {connect.platform}: workflow {connect.wall:.2f} s = seed {connect.total('seed_entities'):.2f} s"
            f" + reconcile {connect.total('reconcile_entities'):.2f} s + begin/activate {other:.2f} s"
            f" + scheduling {connect.wall - sum(s.seconds for s in connect.spans):.2f} s"
            + (f"  ({retries} retried activities)" if retries else "")
        )


def report(small: SizeRun, big: SizeRun, copy: Baseline, join: JoinBaselines) -> None:
    per_platform = sum(sizes(big.payments).values())
    print()
    print(f"== Structural connect benchmark: synthetic:{big.payments} ({per_platform:,} records per platform) ==")
    print(
        f"   machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        "(PostgreSQL, the Temporal dev server, the worker and this process share them)"
    )
    print()
    for run in (small, big):
        print(
            f"connect synthetic:{run.payments}: {run.wall:.2f} s for {run.records:,} records "
            f"(worker peak RSS {mb(run.peak_kb):.0f} MB, worker CPU {run.worker_cpu:.1f} s)"
        )
        print_detail(run)
    print()

    seed_seconds = big.seed_seconds()
    seed_rate = big.records / seed_seconds
    seed_ratio = seed_rate / copy.rate
    print("seed throughput (both platforms)")
    print(f"  seed activities            {big.records:>9,} records in {seed_seconds:7.2f} s = {seed_rate:>9,.0f} records/s")
    print(f"  raw psycopg COPY           {copy.rows:>9,} rows    in {copy.seconds:7.2f} s = {copy.rate:>9,.0f} rows/s")
    ok = seed_ratio >= GOAL_SEED_VS_COPY
    print(f"  ratio seed / raw COPY      {seed_ratio:.2f}x   (goal >= {GOAL_SEED_VS_COPY}x)  {verdict(ok)}")

    linking = big.connects[-1]
    reconcile = linking.total("reconcile_entities")
    first = big.connects[0].total("reconcile_entities")
    insert, insert_fk, select = sum(join.insert.values()), sum(join.insert_fk.values()), sum(join.select.values())
    ratio = reconcile / insert
    print(
        f"reconciliation ({linking.platform} linked to {big.connects[0].platform}: {join.pairs:,} pairs, "
        f"{sum(linking.result.linked.values()):,} linked)"
    )
    print(f"  reconcile activities       {reconcile:7.2f} s  ({_per_type(linking.by_type('reconcile_entities'))})")
    print(f"  plain join -> mapping rows {insert:7.2f} s  ({_per_type(join.insert)})")
    ok = ratio <= GOAL_RECONCILE_VS_JOIN
    print(f"  ratio reconcile / join     {ratio:.2f}x   (goal <= {GOAL_RECONCILE_VS_JOIN}x)  {verdict(ok)}")
    print(
        f"  (the join's rows with entity_mappings' foreign keys: {insert_fk:.2f} s, reconcile "
        f"{reconcile / insert_fk:.2f}x of it; the matching query alone: {select:.2f} s, {reconcile / select:.1f}x)"
    )
    print(f"  (first platform, nothing to link: its reconcile creates the canonical objects, {first:.2f} s)")

    peak = max(mb(small.peak_kb), mb(big.peak_kb))
    print("worker memory")
    print(f"  peak RSS (VmHWM)           {peak:7.0f} MB   (goal < {GOAL_PEAK_MB} MB)  {verdict(peak < GOAL_PEAK_MB)}")

    factor = big.payments / small.payments
    goal = GOAL_SCALING_PER_10X * factor / 10
    ratio = big.wall / small.wall
    print(f"scaling ({small.payments:,} -> {big.payments:,} payments, {factor:.0f}x data)")
    ok = ratio <= goal
    print(f"  connect time               {small.wall:7.2f} s -> {big.wall:.2f} s = {ratio:.1f}x   (goal <= {goal:.0f}x)  {verdict(ok)}")


def _per_type(seconds: Mapping[Any, float]) -> str:
    return ", ".join(f"{t} {s:.2f}" for t, s in seconds.items())


async def bench(payments: int, small_payments: int) -> None:
    with tempfile.TemporaryDirectory(prefix="structural-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"starting embedded PostgreSQL and the Temporal dev server in {tmp} ...", flush=True)
        with embedded_database(tmp, "structural_bench") as db:
            async with temporal_dev_server() as client:
                print(f"connect synthetic:{small_payments} ...", flush=True)
                small = await connect_size(client, db, small_payments, tmp)
                print(f"connect synthetic:{payments} ...", flush=True)
                copy = RawCopy(db)
                joins: list[JoinBaselines] = []

                def baselines(customer: str, platform: str) -> None:
                    if platform == PLATFORMS[-1]:
                        print("  baseline: plain SQL join ...", flush=True)
                        joins.append(plain_join(db, customer, SEED_ORDER))
                    print(f"  baseline: raw COPY of the {platform} rows ...", flush=True)
                    copy.measure(customer, platform)

                big = await connect_size(client, db, payments, tmp, baselines)
            copy.drop()
        report(small, big, copy.plain, joins[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.connect", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=100_000, help="payments per platform (default 100,000)")
    parser.add_argument("--small", type=int, help="payments of the scaling run (default a tenth of --payments)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 and 1,000 payments")
    args = parser.parse_args()
    payments = 10_000 if args.quick else args.payments
    small = 1_000 if args.quick else (args.small or max(1, payments // 10))
    asyncio.run(bench(payments, small))
