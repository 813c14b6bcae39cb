import re

import pytest

from canonical.ids import ENTITY_TYPES, ID_LENGTH, PREFIXES, canonical_id, entity_type_of, id_pattern


def test_prefixes_of_the_spec():
    assert PREFIXES["project"] == "proj"
    assert PREFIXES["customer"] == "cust"
    assert PREFIXES["contract"] == "cor"
    assert PREFIXES["invoice"] == "inv"
    assert PREFIXES["payment"] == "pay"
    assert set(ENTITY_TYPES) == {
        "project",
        "customer",
        "contract",
        "invoice",
        "payment",
        "employee",
        "time_entry",
        "change_order",
        "budget_line_item",
    }
    assert len(set(PREFIXES.values())) == len(PREFIXES)


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_id_is_prefix_and_fifteen_alphanumerics(entity_type):
    cid = canonical_id(entity_type, "cust-1", "procore", "1823456")
    assert re.fullmatch(id_pattern(entity_type), cid)
    prefix, body = cid.split("_", 1)
    assert prefix == PREFIXES[entity_type]
    assert len(body) == ID_LENGTH and body.isascii() and body.isalnum()
    assert entity_type_of(cid) == entity_type


def test_deterministic_and_sensitive_to_every_part():
    base = canonical_id("payment", "cust-1", "procore", "1823456")
    assert base == canonical_id("payment", "cust-1", "procore", "1823456")
    assert canonical_id.__wrapped__("payment", "cust-1", "procore", "1823456") == base  # not a cache artefact
    others = {
        canonical_id("payment", "cust-2", "procore", "1823456"),
        canonical_id("payment", "cust-1", "dynamics", "1823456"),
        canonical_id("invoice", "cust-1", "procore", "1823456")[4:],
        canonical_id("payment", "cust-1", "procore", "1823457"),
    }
    assert base not in others and len(others) == 4


def test_known_value_is_stable_across_releases():
    # Ids are stored and shown to users: changing the derivation would orphan them.
    assert canonical_id("payment", "transform", "procore", "1823456") == "pay_yKqXnojVjP9f49o"


def test_parts_cannot_run_into_each_other():
    # Length-prefixing keeps "a|b" + "c" apart from "a" + "b|c".
    assert canonical_id("project", "a|b", "procore", "c") != canonical_id("project", "a", "procore", "b|c")
    assert canonical_id("project", "1:x", "procore", "y") != canonical_id("project", "1", "procore", "x|y")


def test_collision_free_over_a_large_sample():
    ids = {canonical_id.__wrapped__("payment", "tenant", "procore", str(n)) for n in range(200_000)}
    assert len(ids) == 200_000


def test_rejects_unknown_entity_and_empty_parts():
    with pytest.raises(ValueError):
        canonical_id("widget", "c", "procore", "1")
    with pytest.raises(ValueError):
        canonical_id("payment", "c", "procore", "")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "pay",
        "pay_",
        "pay_short",
        "pay_xK9mN2vL8gM3y6P9",
        "xyz_xK9mN2vL8gM3y6P",
        "pay_xK9mN2vL8gM3y-P",
        "pay_xK9mN2vL8gM3y6é",
    ],
)
def test_entity_type_of_rejects_non_ids(value):
    assert entity_type_of(value) is None


def test_entity_type_of_distinguishes_co_from_cor():
    assert entity_type_of("co_xK9mN2vL8gM3y6P") == "change_order"
    assert entity_type_of("cor_xK9mN2vL8gM3y6P") == "contract"
    assert entity_type_of("pay_xK9mN2vL8gM3y6P") == "payment"
