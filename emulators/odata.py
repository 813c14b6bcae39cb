"""The slice of OData v4 query syntax the Business Central emulator understands.

``$filter`` is a conjunction (``and``) of ``<property> <op> <literal>`` comparisons, with ``op`` one
of ``eq ne gt ge lt le`` and literals of the kinds BC clients send: ``'text'`` (quotes doubled to
escape), numbers, GUIDs, dates, date-times, ``true``/``false`` and ``null``. That covers incremental
polling (``lastModifiedDateTime gt 2026-03-01T00:00:00Z``) and key lookups (``number eq 'C00010'``);
``or``, parentheses and functions (``contains``, ``startswith``) are rejected with a clear error
rather than answered wrongly.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from emulators.common import parse_timestamp

LiteralKind = Literal["string", "number", "guid", "date", "datetime", "bool", "null"]


class ODataError(ValueError):
    """A query option the emulator cannot evaluate; answered as 400 ``BadRequest``."""


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    kind: LiteralKind
    value: Any


_OPERATORS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_TOKEN: Final = re.compile(r"\s*(?:('(?:[^']|'')*')|([()])|([^\s()]+))")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
_NUMBER: Final = re.compile(r"[+-]?\d+(\.\d+)?")


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # pragma: no cover - the pattern accepts any non-blank character
            raise ODataError(f"Syntax error at position {position} in '{text}'.")
        if match.group(2):
            raise ODataError("Functions and parentheses in $filter are not supported by the emulator.")
        tokens.append(match.group(1) or match.group(3))
        position = match.end()
    return tokens


def _literal(token: str) -> tuple[LiteralKind, Any]:
    if token.startswith("'"):
        if len(token) < 2 or not token.endswith("'"):
            raise ODataError(f"Unterminated string literal {token}.")
        return "string", token[1:-1].replace("''", "'")
    if token in ("true", "false"):
        return "bool", token == "true"
    if token == "null":
        return "null", None
    if _GUID.fullmatch(token):
        return "guid", token.lower()
    if _DATETIME.fullmatch(token):
        return "datetime", parse_timestamp(token)
    if _DATE.fullmatch(token):
        return "date", token
    if _NUMBER.fullmatch(token):
        return "number", Decimal(token)
    raise ODataError(f"Syntax error at '{token}': not a literal the emulator understands.")


def parse_filter(text: str) -> list[Comparison]:
    """``$filter`` as the list of comparisons it ANDs together."""
    tokens = _tokens(text)
    comparisons: list[Comparison] = []
    index = 0
    while True:
        if len(tokens) < index + 3:
            raise ODataError(f"Incomplete comparison in $filter '{text}'.")
        name, op, literal = tokens[index : index + 3]
        if not _IDENTIFIER.fullmatch(name):
            raise ODataError(f"Expected a property name in $filter, not '{name}'.")
        if op not in _OPERATORS:
            raise ODataError(f"Unknown operator '{op}' in $filter; supported: eq ne gt ge lt le.")
        comparisons.append(Comparison(name, op, *_literal(literal)))
        index += 3
        if index == len(tokens):
            return comparisons
        if tokens[index] != "and":
            raise ODataError(f"Only 'and' joins comparisons in the emulator's $filter, not '{tokens[index]}'.")
        index += 1


def _comparable(actual: Any, comparison: Comparison) -> Any:
    """The record's value in the literal's type (``ODataError`` on an incompatible type)."""
    kind = comparison.kind
    if kind == "number" and isinstance(actual, int | Decimal) and not isinstance(actual, bool):
        return Decimal(actual)
    if kind == "datetime" and isinstance(actual, str):
        try:
            return parse_timestamp(actual)
        except ValueError:
            pass
    if kind == "guid" and isinstance(actual, str):
        return actual.lower()
    if kind in ("string", "date") and isinstance(actual, str):
        return actual
    if kind == "bool" and isinstance(actual, bool):
        return actual
    raise ODataError(
        f"A binary operator with incompatible types was detected for '{comparison.field}' ({kind} literal)."
    )


def matches(record: Mapping[str, Any], comparison: Comparison) -> bool:
    actual = record.get(comparison.field)
    compare = _OPERATORS[comparison.op]
    if comparison.kind == "null" or actual is None:
        if comparison.op not in ("eq", "ne"):
            return False
        return bool(compare(actual, comparison.value))
    if comparison.kind in ("bool", "guid") and comparison.op not in ("eq", "ne"):
        raise ODataError(f"'{comparison.op}' cannot compare {comparison.kind} values.")
    return bool(compare(_comparable(actual, comparison), comparison.value))


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """``$orderby`` as (property, descending) pairs."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or not _IDENTIFIER.fullmatch(words[0]):
            raise ODataError(f"Invalid $orderby '{text}'.")
        direction = words[1] if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise ODataError(f"Invalid sort direction '{direction}' in $orderby.")
        keys.append((words[0], direction == "desc"))
    return keys


def sort_records(rows: list[dict[str, Any]], keys: Sequence[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Stable multi-key sort; nulls first ascending (as BC sorts blanks)."""
    ordered = list(rows)
    for name, descending in reversed(keys):
        ordered.sort(key=lambda r: (r.get(name) is not None, _sortable(r.get(name))), reverse=descending)
    return ordered


def _sortable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_timestamp(value) if _DATETIME.fullmatch(value) else value
        except ValueError:
            return value
    return 0 if value is None else value


def parse_select(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(_IDENTIFIER.fullmatch(name) for name in names):
        raise ODataError(f"Invalid $select '{text}'.")
    return names


def non_negative(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise ODataError(f"Invalid value '{text}' for {option}: a non-negative integer is required.")
    return int(text)


def max_page_size(prefer: str | None) -> int | None:
    """The ``odata.maxpagesize`` preference of a ``Prefer`` header, if any."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit() and int(value) > 0:
            return int(value)
    return None


def timestamp(value: datetime) -> str:
    """BC's datetime format: UTC with milliseconds, e.g. ``2020-08-21T00:25:58.337Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
