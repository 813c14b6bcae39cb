"""The pure parts of reading a platform's change journal (activities/webhook.py): which
subscription's journal holds a type, and where the next read starts."""

from __future__ import annotations

from activities.webhook import _journal_subscription, _settled_cursor
from platforms.descriptor import JournalEntry
from platforms.registry import get_platform

PAYMENTS = get_platform("procore").journal_types["payment"]


def _state(*refused: str) -> dict[str, object]:
    resources = [
        f"{resource} {event}"
        for resource in ("Projects", "Company Vendors", "Work Order Contracts", "Purchase Order Contracts", "Requisitions", "Contract Payments")
        for event in ("create", "update", "delete")
    ]
    return {
        "subscriptions": [
            {"resource": r, "status": "refused" if r in refused else "active", "id": None if r in refused else f"41/{i}"}
            for i, r in enumerate(resources)
        ]
    }


def test_a_type_reads_the_journal_only_when_every_trigger_it_needs_is_active() -> None:
    assert _journal_subscription(_state(), PAYMENTS) is not None
    assert str(_journal_subscription(_state(), PAYMENTS)).startswith("41/")
    # One of the payment triggers refused: its changes may be missing from the journal.
    assert _journal_subscription(_state("Contract Payments delete"), PAYMENTS) is None
    # A trigger of another resource refused does not matter to payments.
    assert _journal_subscription(_state("Requisitions update"), PAYMENTS) is not None
    assert _journal_subscription({}, PAYMENTS) is None
    assert _journal_subscription(_state(), ()) is None


def _entry(cursor: int, started_at: str | None) -> JournalEntry:
    return JournalEntry(cursor=cursor, event={}, started_at=started_at)


def test_the_cursor_stops_short_of_the_last_minute_of_the_journal() -> None:
    entries = [
        _entry(10, "2026-12-07T12:00:00.000000Z"),
        _entry(12, "2026-12-07T12:00:30.000000Z"),
        _entry(11, "2026-12-07T12:01:10.000000Z"),  # logged late, an earlier event
        _entry(13, "2026-12-07T12:01:20.000000Z"),
    ]
    # Newest 12:01:20: entries first tried by 12:00:20 are settled (10); the rest is read again.
    assert _settled_cursor(entries, 5) == 10
    assert _settled_cursor([], 5) == 5
    assert _settled_cursor([_entry(7, "2026-12-07T12:00:00Z")], 9) == 9  # never back
    # No times at all: past everything read.
    assert _settled_cursor([_entry(20, None), _entry(21, None)], 5) == 21
