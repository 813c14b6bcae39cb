"""The one timestamp format of the API: ISO-8601 UTC with milliseconds (`2026-04-11T12:00:00.000Z`)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_millis(value: datetime | None = None) -> str:
    value = (value or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
