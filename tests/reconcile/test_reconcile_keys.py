"""Business-key extraction and normalisation, and the pairs they produce on the demo data set."""

from __future__ import annotations

import random

import pytest

from platforms.dynamics.demo_data import demo_records as dynamics_records
from platforms.procore.demo_data import demo_records as procore_records
from reconcile import business_keys, match, match_records, normalize_name, normalize_number, normalize_tax_id
from reconcile.keys import key_kind, key_strength

# --- normalisation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("INV-2025-0061", "INV20250061"),
        ("INV 2025-0061", "INV20250061"),
        ("inv-2025-0061", "INV20250061"),
        ("INV-2025-0061.", "INV20250061"),  # trailing dot typed to dodge a duplicate check
        ("chk-2026-0101 ", "CHK20260101"),
        ("CHK 2026 0103", "CHK20260103"),
        ("c-lex-001", "CLEX001"),
        ("C LEX 007", "CLEX007"),
        ("\uff29\uff2e\uff36\uff0d\uff12\uff10\uff12\uff15", "INV2025"),  # full-width "INV-2025"
        ("INV-\u0662\u0660\u0662\u0665", "INV2025"),  # Arabic-Indic digits
        ("  -./ ", ""),
    ],
)
def test_normalize_number(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("100347289600003", "100347289600003"),
        ("100-3472-8960-0003", "100347289600003"),
        (" 5000317214 ", "5000317214"),
        ("qa5000317214", "QA5000317214"),
        ("N/A", ""),  # placeholders identify nobody
        ("000-000-000", ""),
        ("", ""),
    ],
)
def test_normalize_tax_id(raw: str, expected: str) -> None:
    assert normalize_tax_id(raw) == expected


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (["Doha Infrastructure Partners WLL", "Doha Infrastructure Partners W.L.L.",
          "DOHA INFRASTRUCTURE PARTNERS  W. L. L.", "doha infrastructure partners"],
         "doha infrastructure partners"),
        (["Star Framing", "Star Framing, LLC", "Star Framing L.L.C.", "STAR FRAMING LTD."], "star framing"),
        (["Al Khaleej Steel Fabrication LLC", "Al Khaleej Steel Fabrication L.L.C.",
          "Al-Khaleej Steel Fabrication"], "al khaleej steel fabrication"),
        (["Najd Readymix Concrete Co.", "NAJD  READYMIX CONCRETE CO.", "Najd Readymix Concrete Company"],
         "najd readymix concrete"),
        (["Gulf Trading & Contracting Co. W.L.L.", "Gulf Trading and Contracting", "Gulf Trading/Contracting"],
         "gulf trading contracting"),
        (["M.E.P. Services Est.", "M E P Services", "MEP Services Establishment"], "mep services"),
        (["Société Générale de Travaux", "Societe Generale de Travaux"], "societe generale de travaux"),
        (["Red Sea Marine Works Est.", "Red Sea Marine Works"], "red sea marine works"),
    ],
)
def test_normalize_name(variants: list[str], expected: str) -> None:
    assert {normalize_name(v) for v in variants} == {expected}


def test_normalize_name_edge_cases() -> None:
    # Suffix words are only dropped at the end, and never down to nothing.
    assert normalize_name("Co-Op Builders") == "co op builders"
    assert normalize_name("Company Ltd") == "company"
    assert normalize_name("Est.") == "est"
    # Letters of other scripts are kept, not treated as punctuation.
    assert normalize_name("شركة الخليج للصلب") == "شركة الخليج للصلب"
    assert normalize_name("  ") == ""


# --- key extraction ----------------------------------------------------------------------------------


def test_customer_keys_tax_first_then_names() -> None:
    vendor = {"name": "Doha Infrastructure Partners WLL", "legal_name": "Doha Infrastructure Partners W.L.L.",
              "business_id": "5000317214"}
    assert business_keys("procore", "customer", vendor) == ["tax:5000317214", "name:doha infrastructure partners"]
    customer = {"displayName": "Najd Readymix Concrete Co.", "taxRegistrationNumber": ""}
    assert business_keys("dynamics", "customer", customer) == ["name:najd readymix concrete"]
    assert business_keys("dynamics", "customer", {"displayName": "X Trading", "taxRegistrationNumber": "N/A"}) == [
        "name:x trading"
    ]
    assert business_keys("procore", "customer", {"name": "A", "legal_name": "B Ltd", "business_id": None}) == [
        "name:a", "name:b",
    ]


@pytest.mark.parametrize(
    ("platform", "entity_type", "native", "expected"),
    [
        ("procore", "project", {"project_number": "LBT-2401", "display_name": "LBT-2401 - Lusail"},
         ["project:LBT2401"]),
        ("dynamics", "project", {"number": "LBT-2401", "displayName": "Lusail"}, ["project:LBT2401"]),
        ("procore", "contract", {"number": "C-LEX-001"}, ["contract:CLEX001"]),
        ("dynamics", "contract", {"number": "SO-1001", "externalDocumentNumber": "c-lex-001"},
         ["contract:CLEX001"]),
        ("procore", "invoice", {"number": 1, "invoice_number": "INV-2025-0061"}, ["invoice:INV20250061"]),
        # Procore takes an int invoice_number on create.
        ("procore", "invoice", {"number": 1, "invoice_number": 123}, ["invoice:123"]),
        # BC's number-series `number` is never the key.
        ("dynamics", "invoice", {"number": "PS-INV103001", "externalDocumentNumber": "INV 2025-0061"},
         ["invoice:INV20250061"]),
        ("dynamics", "invoice", {"number": "PS-INV103001", "externalDocumentNumber": ""}, []),
        ("procore", "payment", {"check_number": "CHK-2026-0101", "invoice_number": "INV-2025-0061"},
         ["check:CHK20260101"]),
        ("dynamics", "payment", {"documentNumber": "chk-2026-0101 ", "externalDocumentNumber": "INV 2025-0061"},
         ["check:CHK20260101"]),
        ("procore", "payment", {"check_number": None}, []),
        ("procore", "payment", {"check_number": True}, []),
        ("procore", "payment", {}, []),
    ],
)
def test_business_keys(platform: str, entity_type: str, native: dict[str, object], expected: list[str]) -> None:
    assert business_keys(platform, entity_type, native) == expected
    for key in expected:
        assert key_kind(key) in key and key_strength(key) >= 0


def test_business_keys_rejects_unknown_platform_and_type() -> None:
    with pytest.raises(ValueError, match="platform"):
        business_keys("sage", "payment", {})
    with pytest.raises(ValueError, match="not reconciled"):
        business_keys("procore", "employee", {})


# --- the demo data set ------------------------------------------------------------------------------

# Every link reconciliation makes between the two demo sets: (Procore id, Business Central id).
EXPECTED_PAIRS: dict[str, list[tuple[str, str]]] = {
    "project": [
        ("341276", "092b5e18-9dee-55b3-bdcf-088833b589dd"),  # LBT-2401 Lusail Boulevard Tower
        ("341279", "e64e658e-89c4-53ac-a4ab-9cfa695454bf"),  # WBM-2402
        ("341283", "9b9a8614-3859-5fd8-85f6-0962d9490f36"),  # DCH-2403
        ("341288", "88242ed1-4fbb-534b-8af4-e4de6837ea2b"),  # KSP-2404, named differently in BC
    ],
    "customer": [
        ("501004", "adb80970-0a81-5915-9274-d72b47aca691"),  # Doha ... WLL / W.L.L. (tax id)
        ("501007", "01dce5b7-2e4b-57fd-b633-ef5451ae8f94"),  # Al Khaleej ... LLC / L.L.C. (tax id)
        ("501009", "7b7015ce-6b88-5791-b4f8-c30e7158bad1"),  # Najd ... (name only: no tax id in BC)
    ],
    "contract": [
        ("1945782", "227f5a20-c3dd-5c1a-967a-2f18883c2b0f"),  # C-LEX-001 / SO-1001 "c-lex-001"
        ("1945790", "d68517c0-bf4c-5166-8b8c-ac55fc69ddda"),  # C-LEX-002 / SO-1002
        ("1945801", "c0e7ceaf-6e3b-539e-b337-4f786e48ca8c"),  # C-LEX-003 / SO-1010
        ("1945815", "b8ea037c-4edb-5e1c-b38d-a89585db76ce"),  # C-LEX-004 / SO-1004
        ("1945822", "ec5c43e1-3eaf-5d0f-b0fd-71985943b41b"),  # C-LEX-005 / SO-1003 "C-LEX-005 "
        ("1945836", "a0e55698-017c-5be7-a13d-497dac973271"),  # C-LEX-006 / SO-1012
        ("1945849", "ebfc9318-2c19-5b0b-a1f7-84daf0ebde77"),  # C-LEX-007 / SO-1005 "C LEX 007"
        ("1945853", "f1c3cbf8-c3c9-51d2-b6a8-57b5d5789127"),  # C-LEX-008 / SO-1009 (duplicate vendor)
        ("1945871", "94468421-7e80-587c-879a-6a9f7c21db1e"),  # C-LEX-010 / SO-1007 "C-LEX-010."
        ("1945884", "d06ef337-22b5-5aa8-87d5-42e3772447b6"),  # C-LEX-011 / SO-1008
        ("1945896", "006d08a2-68c0-54df-85b9-e1d26bcd2e1d"),  # C-LEX-012 / SO-1006
    ],
    "invoice": [
        ("10061", "c4e95b25-83c6-5f5b-9768-233c8cd1dd9a"),  # INV-2025-0061 / PS-INV103001 "INV 2025-0061"
        ("10062", "36350a53-004b-5f90-ab79-7f1a8e4c29d8"),  # INV-2025-0062 / PS-INV103002
        ("10063", "a3fde181-7623-5f81-9a56-3ddb3c973e82"),  # INV-2026-0003 / PS-INV103003 "inv-2026-0003"
        ("10064", "73ac7b44-ac2e-5ee9-bd38-6c35129f79ee"),  # INV-2026-0004 / PS-INV103004 (half-even AED)
        ("10065", "c8293f4f-fba7-5d4a-9be6-4fd1d1fdf6b8"),  # INV-2026-0005 / PS-INV103005
        ("10066", "45ea0990-51aa-5d3b-ba71-b0b199f55205"),  # INV-2026-0006 / PS-INV103006 "INV-2026-0006."
        ("10067", "bf60c552-fa09-5310-8067-0ad7356b998a"),  # INV-2026-0007 / S-INV100214 (draft)
    ],
    "payment": [
        ("1823456", "a34e74db-53c7-4368-8fe7-bb87c83c7902"),  # CHK-2026-0101 / "chk-2026-0101 "
        ("1823461", "c4e056da-60d1-585a-83bb-7af835c608d9"),  # CHK-2026-0102
        ("1823467", "ac555aff-825a-5baf-a6f5-c74a2b9a85b2"),  # CHK-2026-0103 / "CHK 2026 0103"
        ("1823472", "58461f6e-3284-5a3f-b5bd-fe7106c97db9"),  # CHK-2026-0104
        ("1823478", "59ccc15a-caaa-5cb0-8288-1e6cbb979da3"),  # CHK-2026-0105 / "CHK2026-0105"
        ("1823489", "7cba112a-8479-5f99-b2c4-50c16c90dd59"),  # CHK-2026-0107 / "Chk-2026-0107"
    ],
}

# Records that stay unlinked, with the reason.
PROCORE_ONLY = {
    "project": {"341291"},  # JCM-2501, still at tender
    "customer": {"501012"},  # duplicate of 501007 by spelling: its name key is ambiguous
    "contract": {"1945867", "1945903"},  # C-LEX-009 draft, C-LEX-013 on the tender project
    "invoice": {"10068"},  # INV-2026-0008 under review
    "payment": {"1823483", "1823494"},  # CHK-2026-0106 entered twice in BC; CHK-2026-0108 not in BC yet
}
DYNAMICS_ONLY_COUNTS = {"project": 1, "customer": 1, "contract": 1, "invoice": 0, "payment": 2}


@pytest.fixture(scope="module")
def procore() -> dict[str, list[dict[str, object]]]:
    return procore_records()


@pytest.fixture(scope="module")
def dynamics() -> dict[str, list[dict[str, object]]]:
    return dynamics_records()


@pytest.mark.parametrize("entity_type", list(EXPECTED_PAIRS))
def test_demo_pairs(procore: dict[str, list[dict[str, object]]], dynamics: dict[str, list[dict[str, object]]],
                    entity_type: str) -> None:
    pairs = match_records(entity_type, "procore", procore[entity_type], "dynamics", dynamics[entity_type])
    assert pairs == EXPECTED_PAIRS[entity_type]
    linked_procore = {p for p, _ in pairs}
    linked_dynamics = {d for _, d in pairs}
    assert {str(r["id"]) for r in procore[entity_type]} - linked_procore == PROCORE_ONLY[entity_type]
    assert len({str(r["id"]) for r in dynamics[entity_type]} - linked_dynamics) == DYNAMICS_ONLY_COUNTS[entity_type]


@pytest.mark.parametrize("entity_type", list(EXPECTED_PAIRS))
def test_demo_pairs_do_not_depend_on_connection_order(
    procore: dict[str, list[dict[str, object]]], dynamics: dict[str, list[dict[str, object]]], entity_type: str
) -> None:
    forward = match_records(entity_type, "procore", procore[entity_type], "dynamics", dynamics[entity_type])
    backward = match_records(entity_type, "dynamics", dynamics[entity_type], "procore", procore[entity_type])
    assert sorted((p, d) for d, p in backward) == forward
    shuffled_procore = list(procore[entity_type])
    shuffled_dynamics = list(dynamics[entity_type])
    random.Random(7).shuffle(shuffled_procore)
    random.Random(11).shuffle(shuffled_dynamics)
    assert match_records(entity_type, "procore", shuffled_procore, "dynamics", shuffled_dynamics) == forward


def test_demo_duplicates_are_not_double_linked(
    procore: dict[str, list[dict[str, object]]], dynamics: dict[str, list[dict[str, object]]]
) -> None:
    # Two BC journal lines carry check CHK-2026-0106: neither is linked, nor is the Procore payment.
    duplicated = [p for p in dynamics["payment"] if normalize_number(str(p["documentNumber"])) == "CHK20260106"]
    assert len(duplicated) == 2
    linked = {d for _, d in match_records("payment", "procore", procore["payment"], "dynamics", dynamics["payment"])}
    assert linked.isdisjoint(str(p["id"]) for p in duplicated)
    # Two Procore vendors share a name; only the one whose tax id is in BC gets the BC customer.
    names = [business_keys("procore", "customer", v)[-1] for v in procore["customer"]]
    assert names.count("name:al khaleej steel fabrication") == 2


def test_stored_keys_of_the_spec_payment(
    procore: dict[str, list[dict[str, object]]], dynamics: dict[str, list[dict[str, object]]]
) -> None:
    procore_payment = next(p for p in procore["payment"] if p["id"] == 1823456)
    bc_payment = next(p for p in dynamics["payment"] if p["id"] == "a34e74db-53c7-4368-8fe7-bb87c83c7902")
    assert business_keys("procore", "payment", procore_payment) == ["check:CHK20260101"]
    assert business_keys("dynamics", "payment", bc_payment) == ["check:CHK20260101"]
    assert match([("1823456", ["check:CHK20260101"])], [("a34e74db", ["check:CHK20260101"])]) == [
        ("1823456", "a34e74db")
    ]
