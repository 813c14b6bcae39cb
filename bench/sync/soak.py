"""The soak itself: out-of-band edits and creates on both emulators at a steady rate, while the
bench watches the engine's writes arrive (to pace edits of one record and to know when it is done),
and a worker SIGKILL half-way.

Every operation is what a person does in a platform's UI (the emulators' ``/_control/records``):
never the engine's API. What happened is judged afterwards from the emulators' write and delivery
logs (``bench.sync.analysis``); the live tracking here only keeps two edits of one record from being
in flight at once (their order would be a race, not a measurement).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bench.sync.cpu import CpuWatch
from bench.sync.fields import (
    BC_LOCAL_CURRENCY,
    CREATE_KINDS,
    EDIT_WEIGHTS,
    OTHER,
    SYNCED_FIELDS,
    CreateKind,
    SyncedField,
    World,
    key,
    native_value,
    new_value,
    same,
)
from bench.sync.stack import Customer, Emulator, Stack


def epoch(stamp: str) -> float:
    """An emulator timestamp (``...Z``) as Unix seconds; both emulators use this machine's clock."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Pair:
    """A canonical object linked on both platforms (what edits pick from)."""

    canonical_id: str
    entity_type: str
    procore: str
    dynamics: str

    def native(self, platform: str) -> str:
        return self.procore if platform == "procore" else self.dynamics


@dataclass
class Edit:
    seq: int
    pair: Pair
    field: SyncedField
    source: str
    value: Any  # as typed into the source platform
    expected: Any  # normalised, as the other platform must come to read it
    at: float  # the source's write time (Unix seconds)
    version: str  # the source record's version after the edit (updated_at / lastModifiedDateTime)
    target_currency: str | None = None  # what the other platform books money in (BC: the customer's)
    arrived: float | None = None  # seen by the live tracking (the analysis recomputes it)

    @property
    def target(self) -> str:
        return OTHER[self.source]


@dataclass
class Create:
    seq: int
    kind: CreateKind
    source_id: str
    key: str  # normalised business key
    at: float
    arrived: float | None = None


@dataclass
class Delete:
    """A linked record a person deleted on ``source``; with policy ``propagate`` its counterpart goes."""

    seq: int
    pair: Pair
    source: str
    at: float
    arrived: float | None = None

    @property
    def target(self) -> str:
        return OTHER[self.source]


@dataclass
class SoakLog:
    """What the soak did, for the analysis."""

    edits: list[Edit] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    kill_at: float | None = None  # Unix seconds of the SIGKILL
    restarted_at: float | None = None  # when the new worker polled
    skipped: int = 0  # operations with no record free to edit
    failed_ops: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per component during the soak


@dataclass(frozen=True)
class SoakConfig:
    duration: float
    rate: float  # operations per second
    interval: int  # the delta pass interval (how long an unannounced edit may take)
    kill: bool
    create_share: float
    seed: int
    delete_share: float = 0.0


@dataclass
class Context:
    stack: Stack
    customer: Customer
    emulators: dict[str, Emulator]  # by platform
    world: World
    pairs: dict[str, list[Pair]]  # by entity type
    bc_currency: dict[str, str]  # BC customer id -> currency code

    def payment_currency(self, record: dict[str, Any]) -> str:
        """The currency of a BC payment: its customer's (a journal line states none)."""
        return self.bc_currency.get(str(record.get("customerId")), "") or BC_LOCAL_CURRENCY

    def currency_on(self, platform: str, pair: Pair) -> str | None:
        """What a record's money is booked in on ``platform`` (None: Procore's USD)."""
        if platform == "procore" or pair.entity_type != "payment":
            return None
        record = next((r for r in self.world.dynamics["payment"] if str(r["id"]) == pair.dynamics), {})
        return self.payment_currency(record)


class Tracker:
    """Follows the engine's writes (the emulators' write logs, ``source=api``) as they happen."""

    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds  # an edit that never arrives frees its record after this
        self.seen = {"procore": 0, "dynamics": 0}
        self.in_flight: dict[str, Edit] = {}  # canonical id -> the edit not yet arrived
        self.free_at: dict[str, float] = {}  # canonical id -> when it may be edited again
        self.waiting_creates: list[Create] = []
        self.waiting_deletes: list[Delete] = []

    def busy(self, canonical_id: str, now: float) -> bool:
        return canonical_id in self.in_flight or self.free_at.get(canonical_id, 0.0) > now

    def started(self, edit: Edit) -> None:
        self.in_flight[edit.pair.canonical_id] = edit

    async def poll(self, clients: dict[str, httpx.AsyncClient]) -> None:
        for platform, http in clients.items():
            resp = await http.get("/_control/writes", params={"source": "api"})
            entries = [w for w in resp.json()["writes"] if w["seq"] > self.seen[platform]]
            for entry in entries:
                self.seen[platform] = max(self.seen[platform], entry["seq"])
                if entry["operation"] == "update":
                    self._update(platform, entry)
                elif entry["operation"] == "create":
                    self._create(platform, entry)
                elif entry["operation"] == "delete":
                    self._delete(platform, entry)
        now = time.time()
        for canonical_id, edit in list(self.in_flight.items()):
            if now - edit.at > self.hold_seconds:  # lost, or very late: the analysis will say
                del self.in_flight[canonical_id]

    def _update(self, platform: str, entry: dict[str, Any]) -> None:
        edit = next((e for e in self.in_flight.values() if e.pair.native(platform) == entry["record_id"]), None)
        if edit is None or edit.target != platform:
            return
        change = entry["changes"].get(edit.field.native(platform))
        if change is None:
            return
        record = {edit.field.native(platform): change["new"]}
        if same(edit.field, native_value(edit.field, platform, record, edit.target_currency), edit.expected):
            edit.arrived = epoch(entry["at"])
            del self.in_flight[edit.pair.canonical_id]
            # A moment for the notification of our own write to come back and be recognised.
            self.free_at[edit.pair.canonical_id] = time.time() + 1.0

    def _create(self, platform: str, entry: dict[str, Any]) -> None:
        for create in self.waiting_creates:
            kind = create.kind
            if OTHER[kind.source] != platform or entry["entity_type"] != kind.entity_type:
                continue
            change = entry["changes"].get(kind.target_key)
            if change is not None and key(change["new"]) == create.key:
                create.arrived = epoch(entry["at"])
                self.waiting_creates.remove(create)
                return

    def _delete(self, platform: str, entry: dict[str, Any]) -> None:
        for deleted in self.waiting_deletes:
            if deleted.target == platform and deleted.pair.native(platform) == str(entry["record_id"]):
                deleted.arrived = epoch(entry["at"])
                self.waiting_deletes.remove(deleted)
                return


Operation = Callable[["Soak"], Awaitable[None]]


class Soak:
    def __init__(self, ctx: Context, cfg: SoakConfig) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.log = SoakLog()
        self.tracker = Tracker(hold_seconds=2 * cfg.interval + 60)
        self.seq = 0
        self.clients = {p: httpx.AsyncClient(base_url=e.url, timeout=30) for p, e in ctx.emulators.items()}
        self.cpu = CpuWatch(ctx.stack)

    # --- the operations mix ------------------------------------------------------------------

    def operations(self) -> dict[str, tuple[float, Operation]]:
        return {
            "edit": (1.0 - self.cfg.create_share - self.cfg.delete_share, Soak.edit),
            "create": (self.cfg.create_share, Soak.create),
            "delete": (self.cfg.delete_share, Soak.delete),
        }

    async def edit(self) -> None:
        now = time.time()
        types = list(EDIT_WEIGHTS)
        for entity_type in self.rng.choices(types, weights=[EDIT_WEIGHTS[t] for t in types], k=3):
            free = [p for p in self.ctx.pairs[entity_type] if not self.tracker.busy(p.canonical_id, now)]
            if free:
                break
        else:
            self.log.skipped += 1
            return
        pair = self.rng.choice(free)
        synced = self.rng.choice(SYNCED_FIELDS[entity_type])
        source = self.rng.choice(("procore", "dynamics"))
        self.seq += 1
        value = new_value(synced, source, self.seq)
        native = synced.native(source)
        resp = await self.clients[source].patch(
            f"/_control/records/{entity_type}/{pair.native(source)}", json={"fields": {native: value}}
        )
        if resp.status_code != 200:
            self.log.failed_ops.append(f"edit {entity_type} {source}: {resp.status_code} {resp.text[:200]}")
            return
        body = resp.json()
        record = body["record"]
        currency = self.ctx.payment_currency(record) if source == "dynamics" else None
        edit = Edit(
            seq=self.seq,
            pair=pair,
            field=synced,
            source=source,
            value=value,
            expected=native_value(synced, source, record, currency),
            at=epoch(body["write"]["at"]),
            version=str(record.get("updated_at") or record.get("lastModifiedDateTime")),
            target_currency=self.ctx.currency_on(OTHER[source], pair),
        )
        self.tracker.started(edit)
        self.log.edits.append(edit)

    async def create(self) -> None:
        kind = self.rng.choice(CREATE_KINDS)
        self.seq += 1
        fields = kind.build(self.seq, self.ctx.world, self.rng)
        resp = await self.clients[kind.source].post(f"/_control/records/{kind.entity_type}", json={"fields": fields})
        if resp.status_code != 201:
            self.log.failed_ops.append(f"create {kind.name}: {resp.status_code} {resp.text[:200]}")
            return
        body = resp.json()
        made = Create(
            seq=self.seq,
            kind=kind,
            source_id=str(body["record"]["id"]),
            key=key(fields[kind.source_key]),
            at=epoch(body["write"]["at"]),
        )
        self.tracker.waiting_creates.append(made)
        self.log.creates.append(made)

    async def delete(self) -> None:
        """Delete a linked payment on one platform (connections use policy ``propagate``). Payments:
        nothing references them, and both platforms allow deleting an unposted one, so the
        counterpart must go; a deleted record is never edited again."""
        now = time.time()
        free = [p for p in self.ctx.pairs["payment"] if not self.tracker.busy(p.canonical_id, now)]
        if not free:
            self.log.skipped += 1
            return
        pair = self.rng.choice(free)
        source = self.rng.choice(("procore", "dynamics"))
        self.seq += 1
        resp = await self.clients[source].delete(f"/_control/records/payment/{pair.native(source)}")
        if resp.status_code != 200:
            self.log.failed_ops.append(f"delete payment {source}: {resp.status_code} {resp.text[:200]}")
            return
        self.ctx.pairs["payment"].remove(pair)
        deleted = Delete(seq=self.seq, pair=pair, source=source, at=epoch(resp.json()["write"]["at"]))
        self.tracker.waiting_deletes.append(deleted)
        self.log.deletes.append(deleted)

    # --- driving -------------------------------------------------------------------------------

    async def _track(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await self.tracker.poll(self.clients)
            await asyncio.sleep(0.5)

    async def _kill_and_restart(self) -> None:
        self.log.kill_at = time.time()
        self.cpu.before_kill()
        self.ctx.stack.kill_worker()
        print(f"  worker SIGKILLed at {self.log.kill_at - self.log.started:.0f} s; starting a new one", flush=True)
        took = await self.ctx.stack.start_worker()
        self.log.restarted_at = time.time()
        print(f"  new worker polling after {took:.1f} s", flush=True)

    async def run(self) -> SoakLog:
        ops = self.operations()
        names = [n for n, (w, _) in ops.items() if w > 0]
        weights = [ops[n][0] for n in names]
        tracking = asyncio.create_task(self._track())
        restart: asyncio.Task[None] | None = None
        self.cpu.start()
        self.log.started = time.time()
        clock = time.monotonic()
        deadline = clock + self.cfg.duration
        kill_at = clock + self.cfg.duration / 2 if self.cfg.kill else None
        done = 0
        last_note = clock
        try:
            while (now := time.monotonic()) < deadline:
                if kill_at is not None and now >= kill_at:
                    kill_at = None
                    restart = asyncio.create_task(self._kill_and_restart())
                name = self.rng.choices(names, weights=weights)[0]
                try:
                    await ops[name][1](self)
                except httpx.HTTPError as err:
                    self.log.failed_ops.append(f"{name}: {type(err).__name__}: {err}")
                done += 1
                if now - last_note >= 15:
                    last_note = now
                    print(
                        f"  {now - clock:5.0f} s: {len(self.log.edits)} edits, {len(self.log.creates)} creates, "
                        f"{len(self.log.deletes)} deletes, "
                        f"{len(self.tracker.in_flight)} edits in flight",
                        flush=True,
                    )
                # A steady rate: the next operation is due at start + done / rate.
                await asyncio.sleep(max(0.0, clock + done / self.cfg.rate - time.monotonic()))
            self.log.ended = time.time()
            if restart is not None:
                await restart
            self.log.cpu = self.cpu.stop(self.log.ended - self.log.started)
            await self._quiesce()
        finally:
            tracking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tracking
            for http in self.clients.values():
                await http.aclose()
        return self.log

    async def _quiesce(self) -> None:
        """Until every edit has arrived (or could no longer: the delta interval twice and some)."""
        limit = time.monotonic() + 2 * self.cfg.interval + 30
        while time.monotonic() < limit:
            with contextlib.suppress(httpx.HTTPError):
                await self.tracker.poll(self.clients)
            if (
                all(e.arrived for e in self.log.edits)
                and not self.tracker.waiting_creates
                and not self.tracker.waiting_deletes
            ):
                return
            await asyncio.sleep(0.5)


def bc_currencies(world: World) -> dict[str, str]:
    return {str(c["id"]): str(c.get("currencyCode") or "") for c in world.dynamics["customer"]}
