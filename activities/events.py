"""Event delivery to one webhook endpoint: its queue (the customer's events after its cursor, of its
types) in order, each event until acknowledged, at least once.

One pass delivers for up to ``PASS_SECONDS``, waiting for new events (a Postgres LISTEN wakes it the
moment an event commits) and heartbeating; a worker that dies mid-pass leaves the cursor at the last
acknowledged event, so the next worker's pass starts from the first event not acknowledged (which may
have been received: at-least-once, same ``webhook-id``, same bytes). A failure ends the pass with
the delay before the next attempt; the workflow waits it out on a durable timer. Every attempt is
logged (``webhook_attempts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity

from events import delivery, signing
from events.urls import UnsafeUrlError, check_address
from models.events import DeliveryPass, EndpointInput
from settings import Settings
from store import events as q
from store.credentials import decrypt_text

PASS_SECONDS = 60.0
BATCH = 100
FLUSH_EVERY = 25
FLUSH_SECONDS = 0.2
#: Without a notification (the listener down, a notification lost), look anyway this often.
POLL_SECONDS = 2.0


class EventListener:
    """One LISTEN connection per worker process: wakes the passes waiting for a customer's events."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, customer_id: str, seconds: float) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen())
        event = asyncio.Event()
        self._waiters.setdefault(customer_id, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            self._waiters[customer_id].discard(event)

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {q.CHANNEL}")
                    async for notice in conn.notifies():
                        for event in self._waiters.get(notice.payload, ()):
                            event.set()
            except (psycopg.Error, OSError):
                await asyncio.sleep(1.0)  # the waiters poll meanwhile


class EventActivities:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._listener = EventListener(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            # No redirects: a 3xx is a failure (following one could lead to a private address).
            self._http = httpx.AsyncClient(timeout=self._settings.webhook_timeout_seconds, follow_redirects=False)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    @activity.defn
    async def deliver(self, params: EndpointInput) -> DeliveryPass:
        deadline = time.monotonic() + PASS_SECONDS
        delivered = 0
        while time.monotonic() < deadline:
            activity.heartbeat(delivered)
            async with self._engine.connect() as conn:
                endpoint = await q.get_endpoint(conn, None, params.endpoint_id)
                if endpoint is None:
                    return DeliveryPass(outcome="stop", delivered=delivered, reason="deleted")
                if not endpoint["enabled"]:
                    return DeliveryPass(outcome="stop", delivered=delivered, reason="disabled")
                redelivery = await q.next_redelivery(conn, endpoint)
                events = [] if redelivery else await q.next_events(conn, endpoint, BATCH)
            if redelivery is not None:
                answer, took = await self._post(endpoint, redelivery)
                async with self._engine.begin() as conn:
                    if not answer.delivered:
                        return await self._failed(conn, endpoint, redelivery, answer, took)
                    await q.record_attempts(conn, [_delivered_row(endpoint, redelivery, answer, took)])
                    await q.drop_redelivery(conn, endpoint["id"], int(redelivery["seq"]))
                delivered += 1
                continue
            if not events:
                await self._listener.wait(params.customer_id, min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
                continue
            cursor = int(endpoint["delivered_seq"])
            wanted = set(endpoint["event_types"])
            # Acknowledged deliveries are recorded (attempt log, cursor) together, every FLUSH_EVERY
            # events or FLUSH_SECONDS, and always before a failure is: a worker killed before the
            # commit delivers them again (at least once, same ids and bodies), never skips one.
            acked: list[tuple[dict[str, Any], delivery.Answer, int]] = []
            flushed_at = time.monotonic()
            failure: DeliveryPass | None = None
            for event in events:
                activity.heartbeat(delivered)
                take = not wanted or event["type"] in wanted
                answer, took = await self._post(endpoint, event) if take else (delivery.Answer(True), 0)
                if not answer.delivered:
                    async with self._engine.begin() as conn:
                        moved = await self._record(conn, endpoint, cursor, acked)
                        if moved:
                            failure = await self._failed(conn, endpoint, event, answer, took)
                    acked = []
                    break
                acked.append((event, answer, took) if take else (event, answer, -1))
                delivered += int(take)
                due = len(acked) >= FLUSH_EVERY or time.monotonic() - flushed_at >= FLUSH_SECONDS
                if due or time.monotonic() >= deadline:
                    async with self._engine.begin() as conn:
                        moved = await self._record(conn, endpoint, cursor, acked)
                    if not moved:
                        acked = []
                        break  # rewound meanwhile (a redelivery since a time): read the cursor again
                    cursor = int(acked[-1][0]["seq"])
                    acked, flushed_at = [], time.monotonic()
                    if time.monotonic() >= deadline:
                        break
            if acked:
                async with self._engine.begin() as conn:
                    await self._record(conn, endpoint, cursor, acked)
            if failure is not None:
                return failure.model_copy(update={"delivered": delivered})
        return DeliveryPass(outcome="idle", delivered=delivered)

    async def _record(
        self,
        conn: AsyncConnection,
        endpoint: dict[str, Any],
        cursor: int,
        acked: list[tuple[dict[str, Any], delivery.Answer, int]],
    ) -> bool:
        """Log the acknowledged deliveries and move the cursor past them (in the caller's
        transaction); False when the cursor moved meanwhile (then nothing is recorded)."""
        if not acked:
            return True
        if not await q.advance(conn, endpoint["id"], cursor, int(acked[-1][0]["seq"])):
            return False
        await q.record_attempts(
            conn,
            [
                _delivered_row(endpoint, event, answer, took)
                for event, answer, took in acked
                if took >= 0  # -1: not one of the endpoint's types, passed over
            ],
        )
        return True

    async def _post(self, endpoint: dict[str, Any], event: dict[str, Any]) -> tuple[delivery.Answer, int]:
        """POST one event, signed: how it went, and how long it took (ms)."""
        payload = delivery.body(event)
        now = datetime.now(UTC)
        started = time.monotonic()
        limit = self._settings.webhook_timeout_seconds
        try:
            # One limit for the whole attempt (name lookup, connect, send, answer): httpx's applies to
            # each phase, and a receiver answering a byte at a time must not outlast the pass's heartbeat.
            async with asyncio.timeout(limit):
                await check_address(endpoint["url"], self._settings.webhook_hosts)
                headers = signing.headers(self._secrets(endpoint, now), event["id"], now, payload)
                response = await self._client().post(endpoint["url"], content=payload, headers=headers)
            answer = delivery.judge(response.status_code, {k.lower(): v for k, v in response.headers.items()}, now)
        except UnsafeUrlError as err:
            answer = delivery.Answer(False, f"refused: {err}")
        except (httpx.TimeoutException, TimeoutError):
            answer = delivery.Answer(False, f"timed out after {limit:g} s")
        except httpx.HTTPError as err:
            answer = delivery.Answer(False, f"{type(err).__name__}: {err}")
        return answer, int((time.monotonic() - started) * 1000)

    async def _failed(
        self,
        conn: AsyncConnection,
        endpoint: dict[str, Any],
        event: dict[str, Any],
        answer: delivery.Answer,
        took: int,
    ) -> DeliveryPass:
        """Log the failed attempt; the pass ends with the wait before the next one, or the endpoint is
        disabled (failing for WEBHOOK_DISABLE_AFTER_SECONDS) and ``webhook_endpoint.disabled`` recorded."""
        now = datetime.now(UTC)
        failures, since = await q.record_failure(conn, endpoint["id"])
        give_up = (now - since).total_seconds() >= self._settings.webhook_disable_after_seconds
        delay = delivery.retry_delay(failures, self._settings.webhook_retry_delays, answer.retry_after)
        await q.record_attempts(
            conn,
            [
                q.attempt_row(
                    endpoint["id"],
                    event,
                    outcome="failed",
                    status_code=answer.status,
                    error=answer.error,
                    duration_ms=took,
                    next_attempt_at=None if give_up else now + timedelta(seconds=delay),
                )
            ],
        )
        if not give_up:
            return DeliveryPass(outcome="retry", retry_in=delay, reason=answer.error)
        reason = f"failing since {since.isoformat(timespec='seconds')}: {answer.error}"
        await q.disable(conn, endpoint["id"], reason)
        await q.emit(
            conn,
            uuid.UUID(str(endpoint["customer_id"])),
            "webhook_endpoint.disabled",
            {"endpoint_id": endpoint["id"], "url": endpoint["url"], "reason": reason},
            key=f"{endpoint['id']}|{since.isoformat()}",
        )
        return DeliveryPass(outcome="stop", reason="disabled")

    def _secrets(self, endpoint: dict[str, Any], now: datetime) -> list[str]:
        valid = [decrypt_text(self._settings, endpoint["secret"])]
        expires = endpoint.get("previous_expires_at")
        if endpoint.get("previous_secret") and expires is not None and expires > now:
            valid.append(decrypt_text(self._settings, endpoint["previous_secret"]))
        return valid


def _delivered_row(
    endpoint: dict[str, Any], event: dict[str, Any], answer: delivery.Answer, took: int
) -> dict[str, Any]:
    return q.attempt_row(
        endpoint["id"],
        event,
        outcome="delivered",
        status_code=answer.status,
        error=None,
        duration_ms=took,
        next_attempt_at=None,
    )
