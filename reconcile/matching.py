"""Linking the same real-world entity across two platforms by business key.

``match`` pairs records of one entity type from two platforms, given each record's business keys
(``reconcile.keys.business_keys``). The rules, in the order they apply:

1. **Strongest key first.** Keys are tried tier by tier, strongest first
   (``reconcile.keys.KEY_KIND_STRENGTH``: tax id before name). A record linked in one tier is not
   considered again in a later one.
2. **Ambiguous keys link nothing.** A key links two records only if exactly one record on each
   side carries it. A reused check number, or a vendor entered twice under one name, leaves all
   the records that share the key unlinked, for a person to decide, instead of guessing.
3. **No tie-breaks.** If within one tier a record would be linked to two different partners
   (through two different keys), neither link is made.
4. **Stronger keys veto weaker ones.** A weaker key does not link two records that both carry
   keys of a stronger kind but share none of them (same name, different tax ids: two companies).

Nothing in these rules looks at which side is "left", at input order or at the ids themselves, so
swapping the sides only swaps each pair, and the order in which platforms were connected cannot
change which entities end up linked. The result is one-to-one and sorted.

The same rules in SQL, over a table of ``(side, record_id, key, strength)`` rows: for each tier,
join the two sides on ``key`` restricted to keys with ``count(*) = 1`` per side, drop records
already linked, drop pairs vetoed by rule 4, then keep the pairs whose records occur in exactly
one candidate pair.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from reconcile.keys import business_keys, key_kind, key_strength

#: One record as the matcher sees it: its native id (as a string) and its business keys.
KeyedRecord = tuple[str, Iterable[str]]
#: A link: (left native id, right native id).
Pair = tuple[str, str]


def match(left: Iterable[KeyedRecord], right: Iterable[KeyedRecord]) -> list[Pair]:
    """Link records of one entity type across two platforms; see the module docstring for rules.

    ``left`` and ``right`` are ``(native_id, keys)`` pairs. Returns ``(left_id, right_id)`` pairs
    sorted by left id. Raises ``ValueError`` if an id occurs twice on one side or a key is not a
    business key.
    """
    left_keys = _collect(left, "left")
    right_keys = _collect(right, "right")
    left_holders = _holders(left_keys)
    right_holders = _holders(right_keys)
    shared = left_holders.keys() & right_holders.keys()

    linked_left: dict[str, str] = {}
    linked_right: dict[str, str] = {}
    for tier in sorted({key_strength(key) for key in shared}):
        proposals: set[Pair] = set()
        for key in shared:
            if key_strength(key) != tier:
                continue
            holders_left, holders_right = left_holders[key], right_holders[key]
            if len(holders_left) != 1 or len(holders_right) != 1:
                continue  # rule 2
            (left_id,), (right_id,) = holders_left, holders_right
            if left_id in linked_left or right_id in linked_right:
                continue  # rule 1
            if _contradict(left_keys[left_id], right_keys[right_id], tier):
                continue  # rule 4
            proposals.add((left_id, right_id))
        per_left = Counter(left_id for left_id, _ in proposals)
        per_right = Counter(right_id for _, right_id in proposals)
        for left_id, right_id in proposals:
            if per_left[left_id] == 1 and per_right[right_id] == 1:  # rule 3
                linked_left[left_id] = right_id
                linked_right[right_id] = left_id
    return sorted(linked_left.items())


def match_records(
    entity_type: str,
    left_platform: str,
    left_records: Iterable[Mapping[str, Any]],
    right_platform: str,
    right_records: Iterable[Mapping[str, Any]],
) -> list[Pair]:
    """``match`` over native records: ids are the records' ``id`` fields as strings."""
    return match(
        ((str(record["id"]), business_keys(left_platform, entity_type, record)) for record in left_records),
        ((str(record["id"]), business_keys(right_platform, entity_type, record)) for record in right_records),
    )


def _collect(records: Iterable[KeyedRecord], side: str) -> dict[str, frozenset[str]]:
    collected: dict[str, frozenset[str]] = {}
    for record_id, keys in records:
        if record_id in collected:
            raise ValueError(f"record id {record_id!r} occurs twice on the {side} side")
        key_set = frozenset(keys)
        for key in key_set:
            key_kind(key)  # validates the key
        collected[record_id] = key_set
    return collected


def _holders(keys_by_record: Mapping[str, frozenset[str]]) -> dict[str, set[str]]:
    holders: dict[str, set[str]] = defaultdict(set)
    for record_id, keys in keys_by_record.items():
        for key in keys:
            holders[key].add(record_id)
    return holders


def _contradict(left: frozenset[str], right: frozenset[str], tier: int) -> bool:
    """True if both records carry keys of some kind stronger than ``tier`` and share none of them."""
    stronger_kinds = {key_kind(key) for key in left | right if key_strength(key) < tier}
    for kind in stronger_kinds:
        left_of_kind = {key for key in left if key_kind(key) == kind}
        right_of_kind = {key for key in right if key_kind(key) == kind}
        if left_of_kind and right_of_kind and left_of_kind.isdisjoint(right_of_kind):
            return True
    return False
