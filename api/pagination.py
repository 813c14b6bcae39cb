"""Opaque pagination cursors: a row's sequence number, base64url without padding. One format for
every paged listing (/objects, /conflicts, verify reports)."""

from __future__ import annotations

import base64
import binascii

from api.errors import ApiError, ErrorType


def decode_cursor(cursor: str | None) -> int:
    """The row after which the page starts (0: from the start); 400 for a cursor we never gave."""
    if cursor is None:
        return 0
    try:
        after = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as err:
        raise ApiError(ErrorType.VALIDATION_ERROR, "cursor is invalid") from err
    if not 0 <= after < 2**63:  # a row id: anything else names no page (and would not fit the column)
        raise ApiError(ErrorType.VALIDATION_ERROR, "cursor is invalid")
    return after


def encode_cursor(row_id: int | None) -> str | None:
    """The cursor of the page after ``row_id`` (None: there is none)."""
    return None if row_id is None else base64.urlsafe_b64encode(str(row_id).encode()).decode().rstrip("=")
