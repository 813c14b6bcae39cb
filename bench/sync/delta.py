"""The delta pass at scale: a platform holding ``payments`` synthetic payments (and the proportional
projects, customers, contracts and invoices), connected live; ``changes`` payments edited out of band
with webhook delivery off (``faults.drop: 1.0``), so only a delta pass can find them; one pass on
demand. Its time is compared with the full live connect of the same data, measured just before, and
its platform requests (counted by the emulator) with the number of changes.

A live connect seeds the delta watermarks; the first pass after it reads what changed since (and,
for Procore's project-scoped types, reads their lists once, starting the hook's delivery-log cursor);
it is run and reported first, then the changes are made and the measured pass runs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from bench.common import Waits
from bench.sync import engine
from bench.sync.stack import Customer, Stack
from models.webhook import DeltaResult
from platforms.dynamics.synthetic import guid
from platforms.procore.synthetic import PROCORE_BASE
from platforms.synthetic import sizes
from scheduling.sync import delta_schedule_id


@dataclass
class PassRun:
    seconds: float  # POST /sync -> the DeltaSyncWorkflow's result
    settled_seconds: float  # ... -> the changes it handed on applied (nothing of the customer runs)
    requests: int
    by: dict[str, int]
    result: DeltaResult
    reading: float  # seconds in the activities that read the platform (changes, deletion sweep)
    handing: float  # seconds in the activities that start the changes' workflows
    waits: Waits  # its tasks waiting for the worker
    slowest: str  # its three longest activities

    def changed(self, entity_type: str) -> int:
        return sum(t.changed for t in self.result.types if t.entity_type == entity_type)

    @property
    def read(self) -> int:
        return sum(t.read for t in self.result.types)

    @property
    def total_changed(self) -> int:
        return sum(t.changed for t in self.result.types)


@dataclass
class DeltaRun:
    platform: str
    payments: int
    changes: int
    records: int = 0
    connect_seconds: float = 0.0
    connect_requests: int = 0
    first: PassRun | None = None
    delta: PassRun | None = None
    failure: str | None = None  # the measured pass did not finish
    notes: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        assert self.delta is not None
        return self.delta.seconds / self.connect_seconds


def payment_id(platform: str, i: int) -> str:
    """The i-th synthetic payment's id (``platforms.*.synthetic``)."""
    return str(PROCORE_BASE["payment"] * 10**8 + i) if platform == "procore" else guid("payment", i)


async def _pass(stack: Stack, run_customer: Customer, name: str, platform: str, within: float) -> PassRun:
    emulator = stack.emulators[name]
    await emulator.reset_requests()
    clock = time.monotonic()
    async with stack.api(3600) as api:
        seconds, result, spans, waited = await engine.delta_pass(
            api, stack.temporal, run_customer, platform, within=within
        )
    await engine.settle(stack.temporal, run_customer, [emulator], rounds=2400)
    settled = time.monotonic() - clock
    counted = await emulator.requests()
    reading = sum(s.seconds for s in spans if s.activity in ("delta_changes", "sweep_deleted"))
    handing = sum(s.seconds for s in spans if s.activity == "hand_on")
    slowest = ", ".join(f"{s.activity} {s.seconds:.2f} s" for s in sorted(spans, key=lambda s: -s.seconds)[:3])
    return PassRun(
        seconds, settled, int(counted["total"]), dict(counted["by"]), result, reading, handing, waited, slowest
    )


async def delta_bench(stack: Stack, platform: str, payments: int, changes: int, seed: int) -> DeltaRun:
    run = DeltaRun(platform, payments, changes)
    name = f"{platform}-delta"
    clock = time.monotonic()
    emulator = await stack.start_emulator(name, platform, payments)
    print(f"  {platform} emulator with {payments:,} payments up in {time.monotonic() - clock:.0f} s", flush=True)
    try:
        # Webhooks off: the subscriptions are registered, every notification is lost. Business
        # Central's lost them inside BC (its change feed, $filter on lastModifiedDateTime, is whole);
        # Procore's never reach our receiver, and Procore gives them up at once: what its hook's
        # delivery log, the change feed of its project-scoped types, then shows (a notification lost
        # inside Procore is left to the hourly sweep's full read).
        if platform == "procore":
            await emulator.control(
                "PATCH", "/settings", json={"webhooks": {"faults": {"fail": 1.0}, "discard_after_seconds": 0.001}}
            )
        else:
            await emulator.set_faults(drop=1.0)
        customer = await stack.new_customer(f"bench-sync-delta-{platform}")
        await emulator.reset_requests()
        async with stack.api(3600) as api:
            run.connect_seconds, entities = await engine.connect(api, stack.temporal, customer, emulator)
        run.records = sum(entities.values())
        run.connect_requests = int((await emulator.requests())["total"])
        print(f"  {platform}: full live connect of {run.records:,} records in {run.connect_seconds:.1f} s", flush=True)
        # This bench starts the passes itself: no scheduled one in between.
        await stack.temporal.get_schedule_handle(delta_schedule_id(customer.customer_id, platform)).delete()
        await engine.first_checks(stack.temporal, customer, [platform])
        # Generous bounds (the goal is a twentieth of the connect): twice the connect.
        within = max(120.0, 2 * run.connect_seconds)
        run.first = await _pass(stack, customer, name, platform, within)
        print(
            f"  {platform}: first delta pass after the connect (no watermark yet) {run.first.seconds:.1f} s, "
            f"{run.first.read:,} records read, {run.first.requests:,} requests",
            flush=True,
        )
        rng = random.Random(seed)
        field_name = "notes" if platform == "procore" else "description"
        for n, i in enumerate(rng.sample(range(sizes(payments)["payment"]), changes)):
            await emulator.control(
                "PATCH", f"/records/payment/{payment_id(platform, i)}", json={"fields": {field_name: f"delta bench {n}"}}
            )
        # Procore's given-up deliveries are logged once it has tried each (a second or two).
        await emulator.control("POST", "/webhooks/flush", json={"timeout": 50})
        try:
            run.delta = await _pass(stack, customer, name, platform, within)
        except engine.PassTimeout as err:
            run.failure = f"the pass with {changes} changes: {err}"
            print(f"  {platform}: {run.failure}", flush=True)
            return run
        print(
            f"  {platform}: delta pass with {changes} changed payments {run.delta.seconds:.2f} s "
            f"(reading {run.delta.reading:.2f} s, handing the changes on {run.delta.handing:.2f} s, the rest its "
            f"other steps while the worker applies the changes; {run.delta.settled_seconds:.2f} s until applied), "
            f"{run.delta.requests:,} requests, "
            f"{run.delta.read:,} records read, {run.delta.total_changed} changes found; its workflow tasks waited "
            f"{run.delta.waits.workflow_task_wait:.2f} s and its activities {run.delta.waits.activity_wait:.2f} s for "
            f"the worker; longest steps: {run.delta.slowest}",
            flush=True,
        )
        if run.delta.changed("payment") != changes or run.delta.total_changed != changes:
            run.notes.append(
                f"the pass found {run.delta.changed('payment')} changed payments and {run.delta.total_changed} "
                f"changes in all; {changes} were made"
            )
    finally:
        stack.stop_emulator(name)
    return run
