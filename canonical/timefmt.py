"""The one timestamp format of the API: ISO-8601 UTC with milliseconds (`2026-04-11T12:00:00.000Z`);
and the platform-side stamps the delta watermarks compare (`...Z`, to the second)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def iso_millis(value: datetime | None = None) -> str:
    value = (value or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def seconds_before(stamp: str, by: timedelta) -> str:
    """An ISO-8601 stamp moved ``by`` earlier, as UTC to the second (``2026-04-11T11:59:00Z``)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - by
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(stamp: str | None) -> datetime | None:
    """A platform's ISO-8601 stamp (``Z`` or an offset; naive ones taken as UTC), None when absent or
    unreadable."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
