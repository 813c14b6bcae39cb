"""What a delivery attempt sends and what its answer means. Pure functions: the activity
(``activities.events``) does the I/O.

- The body of an event is the same bytes on every attempt (sorted keys, from the stored event), so a
  receiver never sees a different payload under the same ``webhook-id``.
- A 2xx acknowledges. Anything else is a failure and is retried: 408, 409, 429 and 5xx are the
  receiver's way of saying "later"; other 4xx count as failures like any other (retried on the same
  schedule, and they count towards disabling the endpoint). A 429 or 503 with ``Retry-After`` waits
  that long (at most a day) instead of the schedule's delay.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from canonical.timefmt import iso_millis

MAX_RETRY_AFTER = 86400.0


def body(event: dict[str, Any]) -> bytes:
    """The JSON an endpoint receives for ``event`` (a row of ``store.events``)."""
    return orjson.dumps(
        {
            "id": event["id"],
            "type": event["type"],
            "timestamp": iso_millis(event["occurred_at"]),
            "customer_id": str(event["customer_id"]),
            "data": event["data"],
        },
        option=orjson.OPT_SORT_KEYS,
    )


@dataclass(frozen=True)
class Answer:
    """How an attempt ended: delivered, or failed with why and when the receiver asked us to retry."""

    delivered: bool
    error: str | None = None
    retry_after: float | None = None
    status: int | None = None  # the receiver's HTTP status (None: no answer)


def judge(status: int, headers: dict[str, str], now: datetime) -> Answer:
    if 200 <= status < 300:
        return Answer(True, status=status)
    retry_after = _retry_after(headers.get("retry-after"), now) if status in (429, 503) else None
    return Answer(False, f"HTTP {status}", retry_after, status)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


def retry_delay(failures: int, schedule: list[float], retry_after: float | None) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row (1: the first)."""
    if retry_after is not None:
        return retry_after
    return schedule[min(failures, len(schedule)) - 1]
