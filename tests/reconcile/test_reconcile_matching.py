"""The matcher's rules on small hand-made cases, and its symmetry as a property."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile import match


def swapped(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((right, left) for left, right in pairs)


def test_links_on_a_shared_key() -> None:
    left = [("p1", ["check:A"]), ("p2", ["check:B"]), ("p3", ["check:C"])]
    right = [("d1", ["check:B"]), ("d2", ["check:A"]), ("d9", ["check:Z"])]
    assert match(left, right) == [("p1", "d2"), ("p2", "d1")]


def test_empty_and_keyless_records_link_nothing() -> None:
    assert match([], []) == []
    assert match([("p1", [])], [("d1", [])]) == []


def test_a_reused_key_links_nothing() -> None:
    # A check number entered twice on one side: neither copy is linked, the rest is unaffected.
    left = [("p1", ["check:A"]), ("p2", ["check:B"])]
    right = [("d1", ["check:A"]), ("d2", ["check:A"]), ("d3", ["check:B"])]
    assert match(left, right) == [("p2", "d3")]
    assert match(right, left) == [("d3", "p2")]


def test_strongest_key_wins() -> None:
    left = [("p1", ["tax:1", "name:acme"])]
    right = [("d1", ["tax:1", "name:acme trading"]), ("d2", ["name:acme"])]
    assert match(left, right) == [("p1", "d1")]


def test_name_links_when_one_side_has_no_tax_id() -> None:
    left = [("p1", ["tax:1", "name:najd readymix concrete"])]
    right = [("d1", ["name:najd readymix concrete"])]
    assert match(left, right) == [("p1", "d1")]


def test_duplicate_by_spelling_is_linked_by_tax_id_only() -> None:
    # Procore's "Star Framing" vs "Star Framing, LLC": two records, one name key.
    left = [("v1", ["tax:9", "name:star framing"]), ("v2", ["name:star framing"])]
    right = [("c1", ["tax:9", "name:star framing"])]
    assert match(left, right) == [("v1", "c1")]


def test_different_tax_ids_veto_a_name_link() -> None:
    # Same trading name, different legal entities (e.g. a Qatar WLL and a UAE LLC).
    left = [("v1", ["tax:1", "name:al khaleej steel"])]
    right = [("c1", ["tax:2", "name:al khaleej steel"])]
    assert match(left, right) == []


def test_no_tie_break_between_two_partners_in_one_tier() -> None:
    # v1 carries two names that point at two different customers: no guess is made.
    left = [("v1", ["name:alpha", "name:beta"])]
    right = [("c1", ["name:alpha"]), ("c2", ["name:beta"])]
    assert match(left, right) == []
    assert match(right, left) == []


def test_two_keys_agreeing_on_one_partner_link_once() -> None:
    left = [("v1", ["name:alpha", "name:alpha holding"])]
    right = [("c1", ["name:alpha", "name:alpha holding"])]
    assert match(left, right) == [("v1", "c1")]


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        match([("p1", ["check:A"]), ("p1", ["check:B"])], [])
    with pytest.raises(ValueError, match="business key"):
        match([("p1", ["CHK-2026-0101"])], [])
    with pytest.raises(ValueError, match="business key"):
        match([("p1", ["colour:red"])], [])


# --- properties -------------------------------------------------------------------------------------

# A small key pool so that random records collide, share keys and contradict each other often.
KEY_POOL = ["tax:1", "tax:2", "tax:3", "name:a", "name:b", "name:c", "check:X", "check:Y"]
records = st.dictionaries(
    keys=st.text(alphabet="abcdefgh", min_size=1, max_size=2),
    values=st.lists(st.sampled_from(KEY_POOL), max_size=3),
    max_size=8,
).map(lambda d: list(d.items()))


@given(records, records)
def test_swapping_sides_swaps_the_pairs(left: list[tuple[str, list[str]]], right: list[tuple[str, list[str]]]) -> None:
    assert match(right, left) == swapped(match(left, right))


@given(records, records, st.randoms(use_true_random=False))
def test_input_order_does_not_matter(left: list[tuple[str, list[str]]], right: list[tuple[str, list[str]]],
                                     rnd: random.Random) -> None:
    shuffled_left = [(i, list(reversed(keys))) for i, keys in left]
    shuffled_right = list(right)
    rnd.shuffle(shuffled_left)
    rnd.shuffle(shuffled_right)
    assert match(shuffled_left, shuffled_right) == match(left, right)


@given(records, records)
def test_links_are_one_to_one_and_backed_by_a_unique_key(left: list[tuple[str, list[str]]],
                                                         right: list[tuple[str, list[str]]]) -> None:
    pairs = match(left, right)
    assert len({p for p, _ in pairs}) == len(pairs) == len({d for _, d in pairs})
    left_keys, right_keys = dict(left), dict(right)
    left_count = Counter(k for keys in left_keys.values() for k in set(keys))
    right_count = Counter(k for keys in right_keys.values() for k in set(keys))
    for p, d in pairs:
        shared = set(left_keys[p]) & set(right_keys[d])
        assert any(left_count[k] == 1 and right_count[k] == 1 for k in shared)
