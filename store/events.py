"""SQL of events and webhook endpoints: emitting an event inside the caller's transaction, the pull
feed, endpoints, each endpoint's delivery cursor, attempts and redeliveries.

Ordering: ``emit`` takes the customer's next sequence number from ``event_counters`` with an
``UPDATE``, which locks that row until the transaction ends, so a customer's events commit in
``seq`` order and ``seq > cursor`` never skips one that commits later. Callers emit as the last
statement of their transaction (the lock is held for as short as possible, and taken after any other
lock: no deadlock). Event ids are derived from a key naming the state change, so a retried activity
whose transaction did commit emits nothing twice.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

from canonical.jsonio import dumps_text
from store.propagate import Executor

#: Postgres NOTIFY channel: payload is the customer id; sent on commit of an event.
CHANNEL = "structural_events"


def event_id(customer_id: uuid.UUID, event_type: str, key: str) -> str:
    return "evt_" + hashlib.sha256(f"{customer_id}|{event_type}|{key}".encode()).hexdigest()[:24]


def new_endpoint_id() -> str:
    return "we_" + secrets.token_hex(12)


_NEXT_SEQ = text(
    """
    INSERT INTO event_counters (customer_id, seq) VALUES (:c, 1)
    ON CONFLICT (customer_id) DO UPDATE SET seq = event_counters.seq + 1
    RETURNING seq
    """
)


async def emit(conn: Executor, customer_id: uuid.UUID, event_type: str, data: dict[str, Any], *, key: str) -> str:
    """Record an event in the caller's transaction (it commits or rolls back with the change); the
    event's id. An event with the same key was emitted already: nothing more."""
    eid = event_id(customer_id, event_type, key)
    exists = (await conn.execute(text("SELECT 1 FROM events WHERE id = :id"), {"id": eid})).first()
    if exists is not None:
        return eid
    seq = (await conn.execute(_NEXT_SEQ, {"c": customer_id})).scalar_one()
    await conn.execute(
        text(
            """
            INSERT INTO events (id, customer_id, seq, type, occurred_at, data)
            VALUES (:id, :c, :seq, :t, clock_timestamp(), CAST(:d AS jsonb))
            -- the same change recorded at the same moment by another transaction: one event
            ON CONFLICT (id) DO NOTHING
            """
        ),
        {"id": eid, "c": customer_id, "seq": seq, "t": event_type, "d": dumps_text(data)},
    )
    await conn.execute(text("SELECT pg_notify(:ch, :c)"), {"ch": CHANNEL, "c": str(customer_id)})
    return eid


_EVENT_COLUMNS = "e.id, e.seq, e.type, e.occurred_at, e.data, e.customer_id"


async def list_events(
    conn: Executor, customer_id: uuid.UUID, *, after: int, types: list[str] | None, limit: int
) -> list[dict[str, Any]]:
    """The customer's events after ``after`` in order, optionally of ``types`` only."""
    rows = await conn.execute(
        text(
            f"""
            SELECT {_EVENT_COLUMNS} FROM events e
             WHERE e.customer_id = :c AND e.seq > :after
               AND (CAST(:types AS text[]) IS NULL OR e.type = ANY(CAST(:types AS text[])))
             ORDER BY e.seq LIMIT :limit
            """
        ),
        {"c": customer_id, "after": after, "types": types, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def get_event(conn: Executor, customer_id: uuid.UUID, eid: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            text(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.customer_id = :c AND e.id = :id"),
            {"c": customer_id, "id": eid},
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


async def first_seq_since(conn: Executor, customer_id: uuid.UUID, since: datetime) -> int | None:
    row = await conn.execute(
        text("SELECT min(seq) FROM events WHERE customer_id = :c AND occurred_at >= :since"),
        {"c": customer_id, "since": since},
    )
    value = row.scalar_one()
    return None if value is None else int(value)


async def last_seq(conn: Executor, customer_id: uuid.UUID) -> int:
    row = await conn.execute(text("SELECT seq FROM event_counters WHERE customer_id = :c"), {"c": customer_id})
    value = row.scalar_one_or_none()
    return 0 if value is None else int(value)


async def purge_events(conn: Executor, older_than: datetime) -> int:
    """Drop events and delivery attempts past retention (EVENT_RETENTION_DAYS, at least 30)."""
    await conn.execute(text("DELETE FROM webhook_attempts WHERE at < :t"), {"t": older_than})
    result = await conn.execute(text("DELETE FROM events WHERE occurred_at < :t"), {"t": older_than})
    return int(getattr(result, "rowcount", 0) or 0)


# --- endpoints ------------------------------------------------------------------------------------

_ENDPOINT_COLUMNS = """w.id, w.customer_id, w.url, w.description, w.event_types, w.enabled, w.delivered_seq,
                       w.failures, w.failing_since, w.disabled_reason, w.created_at, w.updated_at,
                       w.previous_expires_at"""


async def create_endpoint(
    conn: Executor,
    customer_id: uuid.UUID,
    endpoint_id: str,
    *,
    url: str,
    description: str | None,
    event_types: list[str],
    enabled: bool,
    secret: bytes,
) -> None:
    """A new endpoint receives events from now on (its cursor starts at the customer's last event)."""
    await conn.execute(
        text(
            """
            INSERT INTO webhook_endpoints (id, customer_id, url, description, event_types, enabled, secret,
                                           delivered_seq)
            VALUES (:id, :c, :url, :d, :types, :enabled, :secret,
                    COALESCE((SELECT seq FROM event_counters WHERE customer_id = :c), 0))
            """
        ),
        {
            "id": endpoint_id,
            "c": customer_id,
            "url": url,
            "d": description,
            "types": event_types,
            "enabled": enabled,
            "secret": secret,
        },
    )


async def list_endpoints(conn: Executor, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE w.customer_id = :c ORDER BY w.created_at"),
        {"c": customer_id},
    )
    return [dict(r._mapping) for r in rows]


async def get_endpoint(conn: Executor, customer_id: uuid.UUID | None, endpoint_id: str) -> dict[str, Any] | None:
    """One endpoint (``customer_id`` None: whoever owns it, for the delivery worker), with secrets."""
    row = (
        await conn.execute(
            text(
                f"""
                SELECT {_ENDPOINT_COLUMNS}, w.secret, w.previous_secret FROM webhook_endpoints w
                 WHERE w.id = :id AND (CAST(:c AS uuid) IS NULL OR w.customer_id = :c)
                """
            ),
            {"id": endpoint_id, "c": customer_id},
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


async def update_endpoint(conn: Executor, customer_id: uuid.UUID, endpoint_id: str, changes: dict[str, Any]) -> bool:
    """Apply ``changes`` (url, description, event_types, enabled); enabling clears the failure state."""
    allowed = {"url", "description", "event_types", "enabled"}
    assert set(changes) <= allowed, changes
    sets = [f"{name} = :{name}" for name in changes]
    if changes.get("enabled") is True:
        sets += ["failures = 0", "failing_since = NULL", "disabled_reason = NULL"]
    result = await conn.execute(
        text(
            f"UPDATE webhook_endpoints SET {', '.join([*sets, 'updated_at = now()'])} "
            "WHERE id = :id AND customer_id = :c"
        ),
        {**changes, "id": endpoint_id, "c": customer_id},
    )
    return bool(getattr(result, "rowcount", 0))


async def rotate_secret(
    conn: Executor, customer_id: uuid.UUID, endpoint_id: str, secret: bytes, previous_until: datetime
) -> bool:
    result = await conn.execute(
        text(
            """
            UPDATE webhook_endpoints
               SET previous_secret = secret, secret = :s, previous_expires_at = :until, updated_at = now()
             WHERE id = :id AND customer_id = :c
            """
        ),
        {"s": secret, "until": previous_until, "id": endpoint_id, "c": customer_id},
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_endpoint(conn: Executor, customer_id: uuid.UUID, endpoint_id: str) -> bool:
    result = await conn.execute(
        text("DELETE FROM webhook_endpoints WHERE id = :id AND customer_id = :c"), {"id": endpoint_id, "c": customer_id}
    )
    return bool(getattr(result, "rowcount", 0))


# --- delivery -------------------------------------------------------------------------------------


async def next_events(conn: Executor, endpoint: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The endpoint's next events after its cursor, in order (of every type: the caller skips the
    types it does not take, so the cursor passes them too)."""
    return await list_events(
        conn, endpoint["customer_id"], after=int(endpoint["delivered_seq"]), types=None, limit=limit
    )


async def advance(conn: Executor, endpoint_id: str, old: int, new: int) -> bool:
    """Move the cursor from ``old`` to ``new``; False when it moved meanwhile (a redelivery since a
    time set it back): the caller re-reads it."""
    result = await conn.execute(
        text(
            """
            UPDATE webhook_endpoints SET delivered_seq = :new, failures = 0, failing_since = NULL
             WHERE id = :id AND delivered_seq = :old
            """
        ),
        {"id": endpoint_id, "old": old, "new": new},
    )
    return bool(getattr(result, "rowcount", 0))


_ATTEMPT = text(
    """
    INSERT INTO webhook_attempts (endpoint_id, event_id, event_type, attempt, outcome, status_code, error,
                                  duration_ms, next_attempt_at)
    VALUES (CAST(:w AS varchar), CAST(:e AS varchar), :t,
            (SELECT count(*) + 1 FROM webhook_attempts
              WHERE endpoint_id = CAST(:w AS varchar) AND event_id = CAST(:e AS varchar)),
            :o, :code, :err, :ms, :next)
    """
)


def attempt_row(
    endpoint_id: str,
    event: dict[str, Any],
    *,
    outcome: str,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    next_attempt_at: datetime | None,
) -> dict[str, Any]:
    return {
        "w": endpoint_id,
        "e": event["id"],
        "t": event["type"],
        "o": outcome,
        "code": status_code,
        "err": error,
        "ms": duration_ms,
        "next": next_attempt_at,
    }


async def record_attempts(conn: Executor, rows: list[dict[str, Any]]) -> None:
    """Log delivery attempts (``attempt_row``s; one round trip for many: executemany)."""
    if rows:
        await conn.execute(_ATTEMPT, rows)


async def record_failure(conn: Executor, endpoint_id: str) -> tuple[int, datetime]:
    """One more failure in a row: (failures, failing since)."""
    row = (
        await conn.execute(
            text(
                """
                UPDATE webhook_endpoints
                   SET failures = failures + 1, failing_since = COALESCE(failing_since, now())
                 WHERE id = :id RETURNING failures, failing_since
                """
            ),
            {"id": endpoint_id},
        )
    ).one()
    return int(row[0]), row[1]


async def disable(conn: Executor, endpoint_id: str, reason: str) -> None:
    await conn.execute(
        text("UPDATE webhook_endpoints SET enabled = false, disabled_reason = :r, updated_at = now() WHERE id = :id"),
        {"id": endpoint_id, "r": reason},
    )


async def list_attempts(
    conn: Executor, customer_id: uuid.UUID, endpoint_id: str, *, event_id: str | None, after: int, limit: int
) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """
            SELECT a.seq, a.event_id, a.event_type, a.attempt, a.at, a.outcome, a.status_code, a.error,
                   a.duration_ms, a.next_attempt_at
              FROM webhook_attempts a JOIN webhook_endpoints w ON w.id = a.endpoint_id
             WHERE w.customer_id = :c AND a.endpoint_id = :w AND a.seq > :after
               AND (CAST(:e AS text) IS NULL OR a.event_id = :e)
             ORDER BY a.seq LIMIT :limit
            """
        ),
        {"c": customer_id, "w": endpoint_id, "e": event_id, "after": after, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


async def queue_redelivery(conn: Executor, endpoint_id: str, seq: int) -> None:
    await conn.execute(
        text("INSERT INTO webhook_redeliveries (endpoint_id, event_seq) VALUES (:w, :s) ON CONFLICT DO NOTHING"),
        {"w": endpoint_id, "s": seq},
    )


async def rewind(conn: Executor, endpoint_id: str, seq: int) -> None:
    """Deliver again everything after ``seq`` (a redelivery since a time), in order."""
    await conn.execute(
        text("UPDATE webhook_endpoints SET delivered_seq = LEAST(delivered_seq, :s) WHERE id = :w"),
        {"w": endpoint_id, "s": seq},
    )


async def next_redelivery(conn: Executor, endpoint: dict[str, Any]) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            text(
                f"""
                SELECT {_EVENT_COLUMNS} FROM webhook_redeliveries r
                  JOIN events e ON e.customer_id = :c AND e.seq = r.event_seq
                 WHERE r.endpoint_id = :w ORDER BY r.requested_at, r.event_seq LIMIT 1
                """
            ),
            {"c": endpoint["customer_id"], "w": endpoint["id"]},
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


async def drop_redelivery(conn: Executor, endpoint_id: str, seq: int) -> None:
    await conn.execute(
        text("DELETE FROM webhook_redeliveries WHERE endpoint_id = :w AND event_seq = :s"), {"w": endpoint_id, "s": seq}
    )
