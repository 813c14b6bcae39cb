"""Conflict rules and directions: the pure decisions."""

from __future__ import annotations

from propagation.rules import check_directions, check_rules, decide, flows, native_keys, rule_for

T1, T2 = "2026-12-07T10:00:00Z", "2026-12-07T10:00:05.250Z"


def test_the_target_connection_decides_first_per_field_then_per_type() -> None:
    target = {"rules": {"contract": {"amount": "prefer:dynamics", "*": "latest"}}}
    source = {"rules": {"contract": "manual", "payment": "latest"}}
    assert rule_for([target, source], "contract", "amount") == "prefer:dynamics"
    assert rule_for([target, source], "contract", "title") == "latest"
    assert rule_for([target, source], "payment", "notes") == "latest"  # from the source's
    assert rule_for([target, source], "invoice", "number") == "manual"  # nobody says: manual
    assert rule_for([{}, {}], "contract", "title") == "manual"


def test_latest_compares_the_platforms_timestamps() -> None:
    assert decide("latest", source="procore", target="dynamics", source_stamp=T2, remote_stamp=T1) == "overwrite"
    assert decide("latest", source="procore", target="dynamics", source_stamp=T1, remote_stamp=T2) == "theirs"
    assert decide("latest", source=None, target="dynamics", source_stamp=None, remote_stamp=T1) == "manual"
    assert decide("latest", source=None, target="dynamics", source_stamp="garbage", remote_stamp=T1) == "manual"


def test_prefer_makes_one_platform_the_source_of_truth() -> None:
    assert decide("prefer:dynamics", source="procore", target="dynamics", source_stamp=T2, remote_stamp=T1) == "theirs"
    assert decide("prefer:dynamics", source="dynamics", target="procore", source_stamp=T1, remote_stamp=T2) == "overwrite"
    assert decide("prefer:procore", source=None, target="dynamics", source_stamp=None, remote_stamp=None) == "overwrite"
    assert decide("manual", source="procore", target="dynamics", source_stamp=T2, remote_stamp=T1) == "manual"
    assert decide("manual", source="procore", target="dynamics", source_stamp=T1, remote_stamp=T2, one_way=True) == "overwrite"


def test_directions() -> None:
    one_way = {"directions": {"payment": "procore_to_dynamics"}}
    assert flows([one_way, {}], "payment", "procore", "dynamics")
    assert not flows([one_way, {}], "payment", "dynamics", "procore")
    assert flows([{}, one_way], "contract", "dynamics", "procore")  # other types both ways
    assert flows([{"directions": {"payment": "both"}}], "payment", "dynamics", "procore")


def test_native_keys_of_fields() -> None:
    assert native_keys("dynamics", "payment", ["notes"]) == {"description"}
    assert "postingDate" in native_keys("dynamics", "payment", ["notes", "payment_date"])


def test_rules_and_directions_are_checked() -> None:
    platforms = ("procore", "dynamics")
    fields = {"contract": ("title", "amount"), "payment": ("notes",)}
    assert check_rules({"contract": {"amount": "prefer:dynamics", "*": "latest"}, "payment": "manual"}, platforms, fields) is None
    assert "rules.widget" in str(check_rules({"widget": "latest"}, platforms, fields))
    assert "rules.contract.colour" in str(check_rules({"contract": {"colour": "latest"}}, platforms, fields))
    assert "'prefer:sage'" in str(check_rules({"payment": "prefer:sage"}, platforms, fields))
    assert "'newest'" in str(check_rules({"contract": {"title": "newest"}}, platforms, fields))
    assert check_directions({"payment": "procore_to_dynamics"}, platforms, fields) is None
    assert "directions.payment" in str(check_directions({"payment": "procore_to_procore"}, platforms, fields))
    assert "directions.widget" in str(check_directions({"widget": "both"}, platforms, fields))
