"""Outgoing webhook deliveries of an emulator, shared by both platforms.

A change is announced by queueing a delivery; a task on the server's own event loop sends it later,
never inside the request that made the change (both platforms deliver asynchronously). Each
destination is a *lane*: deliveries to it go one at a time, in order, and a failing head holds the
lane back while it is retried, as Procore documents ("deliveries pause and retry") and as Business
Central's one-POST-per-notification-URL job behaves. The platform decides what a response means
(``DeliveryPolicy``); this module sends, retries on the emulator's clock, applies the injected
delivery faults and logs every attempt for ``GET /_control/deliveries``.

``serve_in_thread`` runs uvicorn with lifespan off, so nothing starts the sender at startup: it is
started lazily, on the running loop, by the first delivery queued from a request (or by a control
call that waits for the queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["event", "batch", "handshake"]
Outcome = Literal["delivered", "retrying", "failed", "discarded", "dropped"]

#: How much of a receiver's answer the log keeps (bodies can be pages of HTML).
_RESPONSE_KEPT: Final = 2000
#: The sender never sleeps longer than this between looks at its queue, so a moved emulator clock
#: or a changed setting takes effect soon even when nothing woke it.
_MAX_NAP: Final = 0.5
_UNSEEDED: Final = object()


class WebhookFaults(BaseModel):
    """Delivery faults, patched under ``webhooks.faults`` with ``PATCH /_control/settings``.

    Every fraction is decided per delivery (a Procore event, a BC notification batch) when it is
    queued, with dice seeded by ``seed`` so a run can be repeated.
    """

    model_config = ConfigDict(extra="forbid")

    drop: float = Field(0.0, ge=0, le=1, description="fraction of deliveries lost: never sent, logged as dropped")
    duplicate: float = Field(0.0, ge=0, le=1, description="fraction of deliveries sent a second time")
    fail: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "fraction of attempts lost in transit (the receiver down, a reset connection): the platform "
            "sees a failed attempt, logs it and retries or gives up by its own rules"
        ),
    )
    delay_seconds: float = Field(0.0, ge=0, le=3600, description="hold each delivery this long before sending it")
    delay_max_seconds: float | None = Field(
        None, ge=0, le=3600, description="set: each delay is drawn uniformly from [delay_seconds, delay_max_seconds]"
    )
    reorder_window_seconds: float = Field(
        0.0, ge=0, le=3600, description="hold deliveries to a destination this long, then send them shuffled"
    )
    seed: int | None = Field(None, description="seed of the fault dice; None: different every run")

    @model_validator(mode="after")
    def _ordered_range(self) -> WebhookFaults:
        if self.delay_max_seconds is not None and self.delay_max_seconds < self.delay_seconds:
            raise ValueError("delay_max_seconds must not be below delay_seconds")
        return self


class WebhookSettings(BaseModel):
    """What both platforms' ``webhooks`` settings have: the delivery faults and the log's size."""

    model_config = ConfigDict(extra="forbid")

    faults: WebhookFaults = Field(default_factory=WebhookFaults)
    log_limit: int = Field(
        100_000, ge=1, description="delivery log lines kept (the oldest go first), so a long soak stays bounded"
    )


@dataclass
class Delivery:
    """One request the platform owes a receiver: a Procore event or a BC notification batch."""

    id: str
    kind: Kind
    lane: str
    url: str
    headers: dict[str, str]
    body: Any  # the JSON value sent
    context: dict[str, Any]  # platform facts the policy and the log need (hook id, subscriptions)
    due: float  # emulator time of the next attempt
    attempt: int = 0
    faults: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """What a platform makes of one attempt's answer."""

    outcome: Outcome
    retry_at: float | None = None  # with "retrying": emulator time of the next attempt


@dataclass(frozen=True)
class Answer:
    """A receiver's answer to one attempt (``status`` None: no HTTP answer at all)."""

    status: int | None
    body: str
    headers: Mapping[str, str]
    error: str | None


class DeliveryPolicy(Protocol):
    """The platform's rules: how long it waits for a receiver and what an answer means."""

    def timeout_seconds(self, delivery: Delivery) -> float: ...

    def prepare(self, delivery: Delivery) -> bool:
        """Bring a delivery up to date just before an attempt; False: it is no longer owed."""
        ...

    def settle(self, lane: Lane, delivery: Delivery, answer: Answer) -> Verdict: ...


@dataclass
class Lane:
    """The deliveries owed to one destination (Procore: a hook; BC: a notification URL), in order."""

    key: str
    queue: deque[Delivery] = field(default_factory=deque)
    hold: list[Delivery] = field(default_factory=list)  # the reorder fault's window
    hold_until: float | None = None
    busy: bool = False
    failing_since: float | None = None  # emulator time of the first failure of the current streak
    failures: int = 0  # consecutive failed attempts

    def idle(self) -> bool:
        return not self.queue and not self.hold and not self.busy and self.failing_since is None


@dataclass(frozen=True)
class AttemptRecord:
    """One line of ``GET /_control/deliveries``: a request sent (or, for ``dropped``, not sent)."""

    seq: int
    delivery_id: str
    kind: Kind
    lane: str
    attempt: int
    url: str
    request_headers: dict[str, str]
    body: Any
    status: int | None
    response_body: str
    response_headers: dict[str, str]
    error: str | None
    outcome: Outcome
    faults: tuple[str, ...]
    context: dict[str, Any]
    started_at: str
    completed_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "delivery_id": self.delivery_id,
            "kind": self.kind,
            "lane": self.lane,
            "attempt": self.attempt,
            "url": self.url,
            "request_headers": self.request_headers,
            "body": self.body,
            "status": self.status,
            "response_body": self.response_body,
            "response_headers": self.response_headers,
            "error": self.error,
            "outcome": self.outcome,
            "faults": list(self.faults),
            "context": self.context,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


@dataclass
class _Timer:
    when: float
    action: Callable[[], None]


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def masked(secret: str, shown: int = 5) -> str:
    """A secret with all but its last ``shown`` characters starred (Procore's destination headers)."""
    return "*" * max(0, len(secret) - shown) + secret[-shown:]


class Outbox:
    """The deliveries an emulator owes, their sender task and the log of every attempt."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        encode: Callable[[Any], bytes],
        settings: Callable[[], WebhookSettings],
    ) -> None:
        self._now = now
        self._encode = encode
        self._settings = settings
        self.policy: DeliveryPolicy | None = None
        #: Changes the platform holds that will become deliveries (BC's open batch window).
        self.waiting: Callable[[], int] = lambda: 0
        self.log: list[AttemptRecord] = []
        self._seq = itertools.count(1)
        self.lanes: dict[str, Lane] = {}
        self._timers: list[_Timer] = []
        self._ids = itertools.count(1)
        self._rng = random.Random()
        self._seed: object = _UNSEEDED
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._settled = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    # -- state

    def reset(self) -> None:
        """Forget every queued delivery, timer and log line; stop what is in flight."""
        for task in self._sends:
            task.cancel()
        self._sends.clear()
        self.lanes.clear()
        self._timers.clear()
        self.log.clear()
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._seed = _UNSEEDED  # the dice restart from the configured seed
        self.wake()

    def pending(self) -> int:
        """Deliveries not yet settled (queued, held, in flight, being retried) plus held changes."""
        return sum(len(lane.queue) + len(lane.hold) for lane in self.lanes.values()) + self.waiting()

    def lane(self, key: str) -> Lane:
        return self.lanes.setdefault(key, Lane(key))

    def clear_lane(self, key: str, outcome: Outcome | None) -> None:
        """Settle every delivery still owed on ``key`` (but the one in flight) as ``outcome``
        (None: forget them unlogged).

        Used when a platform gives a destination up: Procore discards a hook's queue after 12 hours
        of failures or forgets a deleted hook's; BC drops what it owed subscriptions it deleted.
        """
        lane = self.lanes.get(key)
        if lane is None:
            return
        in_flight = lane.queue[0] if lane.busy and lane.queue else None
        owed = [d for d in [*lane.queue, *lane.hold] if d is not in_flight]
        lane.queue = deque([in_flight] if in_flight else [])
        lane.hold, lane.hold_until = [], None
        if outcome is not None:
            for delivery in owed:
                now = self._now()
                self._record(delivery, Answer(None, "", {}, None), outcome, now, now)

    # -- queueing

    def next_id(self) -> str:
        return f"dlv_{next(self._ids)}"

    def enqueue(
        self, kind: Kind, lane_key: str, url: str, headers: Mapping[str, str], body: Any, context: dict[str, Any]
    ) -> None:
        """Owe ``body`` to ``url``; the injected faults decide whether, when and how often it goes."""
        faults = self._settings().faults
        dice = self._dice(faults.seed)
        now = self._now()
        delivery = Delivery(self.next_id(), kind, lane_key, url, dict(headers), body, context, now)
        if faults.drop and dice.random() < faults.drop:
            # Lost inside the platform: the receiver never hears of this change (a catch-up must).
            delivery.faults.append("drop")
            self._record(delivery, Answer(None, "", {}, None), "dropped", now, now)
            return
        copies = [delivery]
        if faults.duplicate and dice.random() < faults.duplicate:
            copies.append(replace(delivery, id=self.next_id(), faults=["duplicate"], headers=dict(headers)))
        lane = self.lane(lane_key)
        for copy in copies:
            delay = faults.delay_seconds
            if faults.delay_max_seconds is not None:
                delay = dice.uniform(faults.delay_seconds, faults.delay_max_seconds)
            if delay > 0:
                copy.due = now + delay
                copy.faults.append("delay")
            if faults.reorder_window_seconds > 0:
                if lane.hold_until is None:
                    lane.hold_until = now + faults.reorder_window_seconds
                lane.hold.append(copy)
            else:
                lane.queue.append(copy)
        self.wake()

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` on the sender's loop once the emulator clock reaches ``when``."""
        self._timers.append(_Timer(when, action))
        self.wake()

    def _dice(self, seed: int | None) -> random.Random:
        if seed != self._seed:
            self._rng = random.Random(seed)
            self._seed = seed
        return self._rng

    # -- the sender

    def wake(self) -> None:
        """Have the sender look at its queue now (started on the running loop if it is not)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no server loop yet (a core used directly): the first request starts it
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # Events bind to the loop that first waits on them: new ones for a new server loop.
            self._wake, self._settled = asyncio.Event(), asyncio.Event()
            self._task = loop.create_task(self._run(), name="webhook-sender")
        assert self._wake is not None
        self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        wake = self._wake
        try:
            while True:
                wake.clear()
                nap = self._step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(_MAX_NAP, max(0.0, nap)))
        finally:
            for task in self._sends:
                task.cancel()
            if self._client is not None:
                client, self._client = self._client, None
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _step(self) -> float:
        """Start every attempt that is due; the emulator seconds until something else is."""
        now = self._now()
        upcoming = math.inf
        due, self._timers = [t for t in self._timers if t.when <= now], [t for t in self._timers if t.when > now]
        for timer in due:
            timer.action()
        upcoming = min([upcoming, *(t.when for t in self._timers)])
        for key, lane in list(self.lanes.items()):
            if lane.hold and lane.hold_until is not None:
                if lane.hold_until <= now:
                    self._release(lane)
                else:
                    upcoming = min(upcoming, lane.hold_until)
            if lane.busy or not lane.queue:
                if lane.idle():
                    del self.lanes[key]
                continue
            head = lane.queue[0]
            if head.due > now:
                upcoming = min(upcoming, head.due)
                continue
            lane.busy = True
            task = asyncio.get_running_loop().create_task(self._attempt(lane, head))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        return upcoming - now

    def _release(self, lane: Lane) -> None:
        held, lane.hold, lane.hold_until = lane.hold, [], None
        if len(held) > 1:
            order = list(held)
            self._dice(self._settings().faults.seed).shuffle(order)
            for delivery in order:
                delivery.faults.append("reorder")
            held = order
        lane.queue.extend(held)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env off: a proxy configured for the machine must not sit between an emulator
            # and a receiver on loopback.
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        return self._client

    async def _attempt(self, lane: Lane, delivery: Delivery) -> None:
        assert self.policy is not None
        if not self.policy.prepare(delivery):
            # No longer owed (its hook or subscriptions are gone): settled without a request.
            if lane.queue and lane.queue[0] is delivery:
                lane.queue.popleft()
            lane.busy = False
            self.wake()
            return
        delivery.attempt += 1
        started = self._now()
        faults = self._settings().faults
        if faults.fail and self._dice(faults.seed).random() < faults.fail:
            if "fail" not in delivery.faults:
                delivery.faults.append("fail")
            answer = Answer(None, "", {}, "ConnectError: connection refused (injected fault: fail)")
        else:
            answer = await self._post(
                delivery.url, delivery.headers, delivery.body, self.policy.timeout_seconds(delivery)
            )
        if self.lanes.get(lane.key) is not lane or not lane.queue or lane.queue[0] is not delivery:
            return  # reset (or the lane was given up) while this was in flight: nothing to settle
        verdict = self.policy.settle(lane, delivery, answer)
        self._record(delivery, answer, verdict.outcome, started, self._now())
        lane.busy = False
        if verdict.outcome == "retrying" and verdict.retry_at is not None:
            delivery.due = verdict.retry_at
        elif lane.queue and lane.queue[0] is delivery:
            lane.queue.popleft()
        self.wake()

    async def _post(
        self, url: str, headers: Mapping[str, str], body: Any, limit: float, params: Mapping[str, str] | None = None
    ) -> Answer:
        content = b"" if body is None else self._encode(body)
        sent = {"Content-Type": "application/json", **headers} if body is not None else dict(headers)
        try:
            response = await self._http().post(url, content=content, headers=sent, params=params, timeout=limit)
        except httpx.HTTPError as exc:
            # A refused connection, a timeout, a broken answer: no status, which both platforms retry.
            return Answer(None, "", {}, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        return Answer(response.status_code, response.text[:_RESPONSE_KEPT], dict(response.headers), None)

    async def call(
        self,
        kind: Kind,
        lane_key: str,
        url: str,
        *,
        params: Mapping[str, str],
        limit: float,
        accept: Callable[[Answer], bool],
        context: dict[str, Any],
    ) -> bool:
        """One request sent now and awaited (BC's handshake), logged like a delivery, never faulted."""
        started = self._now()
        target = str(httpx.URL(url).copy_merge_params(params))
        answer = await self._post(url, {}, None, limit, params)
        accepted = accept(answer)
        delivery = Delivery(self.next_id(), kind, lane_key, target, {}, None, context, started, attempt=1)
        self._record(delivery, answer, "delivered" if accepted else "failed", started, self._now())
        return accepted

    # -- the log

    def _record(self, delivery: Delivery, answer: Answer, outcome: Outcome, started: float, ended: float) -> None:
        self._settled.set()
        limit = self._settings().log_limit
        if len(self.log) >= limit + max(1, limit // 10):
            del self.log[: len(self.log) - limit + 1]  # trimmed in chunks: not a copy per line
        self.log.append(
            AttemptRecord(
                seq=next(self._seq),
                delivery_id=delivery.id,
                kind=delivery.kind,
                lane=delivery.lane,
                attempt=delivery.attempt,
                url=delivery.url,
                request_headers=delivery.headers,
                body=delivery.body,
                status=answer.status,
                response_body=answer.body,
                response_headers=dict(answer.headers),
                error=answer.error,
                outcome=outcome,
                faults=tuple(delivery.faults),
                context=delivery.context,
                started_at=_iso(started),
                completed_at=_iso(ended),
            )
        )

    def records(self, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        """The log as JSON, keeping lines whose top-level fields equal every given filter."""
        rows = [record.as_json() for record in self.log]
        return [r for r in rows if all(str(r.get(k)) == v for k, v in filters.items())]

    # -- waiting

    def release(self) -> None:
        """Send what is only being held now: due timers (BC batch windows), reorder holds and
        injected delays. Retries keep their backoff: that is the platform's behaviour, not a fault."""
        for timer in self._timers:
            timer.when = min(timer.when, self._now())
        for lane in self.lanes.values():
            if lane.hold_until is not None:
                lane.hold_until = self._now()
            for delivery in lane.queue:
                if delivery.attempt == 0:
                    delivery.due = min(delivery.due, self._now())
        self.wake()

    async def drained(self, within: float) -> int:
        """Wait (up to ``within`` real seconds) until nothing is pending; what still is."""
        deadline = time.monotonic() + within
        self.wake()
        while self.pending() and (left := deadline - time.monotonic()) > 0:
            # Woken by every settled attempt; the nap bounds a wait on changes held elsewhere.
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), timeout=min(left, 0.05))
        return self.pending()


