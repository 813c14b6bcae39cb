"""Property tests: any native record a platform could send survives native -> canonical -> native.

Records are generated from the mapping tables themselves (every mapped field, in
every form the platform uses: standard and odd decimal text, JSON numbers of each
type, nulls, blanks, nested references, unknown extra fields), so a new codec or
field is covered without touching this file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canonical import ENTITY_TYPES, model_for
from canonical.jsonio import dumps
from platforms import IdMap, MappingContext, get_mapper
from platforms.mapping import (
    Amount,
    Choice,
    Codec,
    Compiled,
    Constant,
    CurrencyCode,
    Date,
    DecimalValue,
    NestedText,
    NumberRef,
    Ref,
    TableMapper,
    Text,
)
from platforms.procore.mapping import CommitmentStatus, commitment_options

CURRENCY = "QAR"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
json_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | texts
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=6
)
dates = st.dates().map(lambda day: day.isoformat())
guids = st.uuids().map(str)
codes = st.sampled_from(["USD", "QAR", "AED", "SAR"])


def _decimal_texts(places: int = 2) -> st.SearchStrategy[str]:
    # Values with at most ``places`` significant decimals, written with 0 to 4 decimals.
    return st.tuples(st.integers(-(10**12), 10**12), st.integers(0, 4)).map(
        lambda pair: _render(Decimal(pair[0]).scaleb(-places), pair[1])
    )


def _render(value: Decimal, decimals: int) -> str:
    needed = max(0, -value.normalize().as_tuple().exponent) if value else 0  # type: ignore[operator]
    return f"{value:.{max(decimals, needed)}f}"


def _json_numbers(places: int = 2) -> st.SearchStrategy[Any]:
    cents = st.integers(-(10**12), 10**12)
    return st.one_of(
        cents.map(lambda n: n // 100 * 100 // 100),  # whole numbers as int
        cents.map(lambda n: float(Decimal(n).scaleb(-places))),
        cents.map(lambda n: Decimal(n).scaleb(-places)),
        _decimal_texts(places).map(Decimal),
    )


def _ref_values(codec: Ref) -> st.SearchStrategy[Any]:
    if codec.id_kind is int:
        ids = st.integers(1, 2**40) | st.integers(1, 2**40).map(str)
    else:
        ids = guids | st.sampled_from(["", "00000000-0000-0000-0000-000000000000"])
    if codec.nested:
        return st.none() | st.builds(
            lambda i, name: {"id": i} if name is None else {"id": i, "name": name}, ids, st.none() | texts
        )
    return st.none() | ids


def _field_values(platform: str, codec: Codec) -> dict[str, st.SearchStrategy[Any]]:
    """Strategies for the native keys ``codec`` reads (each key optional in the record)."""
    blank = "" if platform == "dynamics" else None
    if isinstance(codec, Constant):
        return {}
    if isinstance(codec, NestedText):
        return {
            codec.key: st.none()
            | st.builds(
                lambda code, extra: {codec.sub: code, **extra},
                texts,
                st.dictionaries(st.sampled_from(["id", "name"]), json_scalars),
            )
        }
    if isinstance(codec, Text):
        return {codec.key: st.none() | texts | (st.just("") if blank == "" else st.integers(0, 10**9))}
    if isinstance(codec, Date):
        return {codec.key: st.none() | dates | (st.just(codec.blank) if codec.blank else st.nothing())}
    if isinstance(codec, Choice):
        return {codec.key: st.none() | st.sampled_from(sorted(codec.read_table, key=repr))}
    if isinstance(codec, Ref):
        return {codec.key: _ref_values(codec)}
    if isinstance(codec, NumberRef):
        return {codec.key: st.none() | st.just("") | texts.filter(bool)}
    if isinstance(codec, DecimalValue):
        return {codec.key: st.none() | (_decimal_texts(1) if codec.as_text else _json_numbers(1))}
    if isinstance(codec, Amount):
        amounts = _decimal_texts() if codec.as_text else _json_numbers()
        if codec.currency_key:
            # Amount and currency come together, as BC sends documents (blank: local currency).
            pair = st.tuples(st.none() | amounts, codes | st.just(""))
            return {f"{codec.key}|{codec.currency_key}": pair}
        return {codec.key: st.none() | amounts}
    if isinstance(codec, CurrencyCode):
        return {codec.key: st.none() | st.just("") | codes}
    raise AssertionError(f"no generator for {type(codec).__name__}")


@st.composite
def native_records(draw: st.DrawFn, platform: str, entity_type: str) -> dict[str, Any]:
    spec = get_mapper(platform).specs[entity_type]  # type: ignore[attr-defined]
    record: dict[str, Any] = {}
    own_ids = (st.integers(1, 2**40) | st.integers(1, 2**40).map(str)) if platform == "procore" else guids
    if draw(st.integers(0, 9)):  # now and then a record not created yet
        record["id"] = draw(own_ids)
    for codec in spec.codecs:
        if isinstance(codec, CommitmentStatus):
            kind = draw(st.sampled_from(sorted(CommitmentStatus.TABLES)))
            record["type"] = kind
            record[codec.key] = draw(st.none() | st.sampled_from(sorted(CommitmentStatus.TABLES[kind][0])))
            continue
        for key, values in _field_values(platform, codec).items():
            if not draw(st.booleans()):
                continue
            value = draw(values)
            if "|" in key:
                amount_key, currency_key = key.split("|")
                amount, code = value
                record[currency_key] = code
                if amount is not None or draw(st.booleans()):
                    record[amount_key] = amount
            else:
                record[key] = value
    extras = draw(st.dictionaries(texts.map(lambda name: f"x_{name}"), json_values, max_size=4))
    return record | extras


def _normalised(record: dict[str, Any]) -> Any:
    # Equal as JSON: a Decimal and the float a JSON parser would give for it compare equal.
    return orjson.loads(dumps(record))


CASES = [(platform, entity) for platform in ("procore", "dynamics") for entity in ENTITY_TYPES]


def _read(platform: str, entity_type: str, record: dict[str, Any]) -> tuple[Any, MappingContext]:
    context = MappingContext(currency=CURRENCY)
    return get_mapper(platform).to_canonical(entity_type, record, customer_id="prop", context=context), context


@pytest.mark.parametrize(("platform", "entity_type"), CASES)
@SETTINGS
@given(data=st.data())
def test_native_canonical_native_is_lossless(platform, entity_type, data):
    record = data.draw(native_records(platform, entity_type))
    canonical, context = _read(platform, entity_type, record)
    assert get_mapper(platform).from_canonical(entity_type, canonical, context=context) == record


@pytest.mark.parametrize(("platform", "entity_type"), CASES)
@SETTINGS
@given(data=st.data())
def test_lossless_through_stored_canonical_json(platform, entity_type, data):
    record = data.draw(native_records(platform, entity_type))
    canonical, context = _read(platform, entity_type, record)
    stored = model_for(entity_type).model_validate_json(canonical.model_dump_json())
    assert _normalised(stored.model_dump()) == _normalised(canonical.model_dump())
    assert _normalised(get_mapper(platform).from_canonical(entity_type, stored, context=context)) == _normalised(record)


@pytest.mark.parametrize(("platform", "entity_type"), CASES)
@SETTINGS
@given(data=st.data())
def test_generated_fast_paths_agree_with_the_codecs(platform, entity_type, data):
    record = data.draw(native_records(platform, entity_type))
    compiled = _compiled(platform, entity_type)
    to_reference, from_reference = compiled.reference()
    fast_context, slow_context = MappingContext(currency=CURRENCY), MappingContext(currency=CURRENCY)
    fast = compiled.to_canonical(record, fast_context, "prop")
    slow = to_reference(record, slow_context, "prop")
    assert fast == slow
    assert compiled.from_canonical(fast, fast_context) == from_reference(slow, slow_context)
    assert fast_context.references == slow_context.references


def _compiled(platform: str, entity_type: str) -> Compiled:
    mapper = get_mapper(platform)
    assert isinstance(mapper, TableMapper)
    return mapper.compiled(entity_type)


def _outcome(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except Exception as error:  # the type and message must agree too
        return type(error), str(error), getattr(error, "path", None)


# Values a fast path must hand to its codec: text Decimal() takes but the platform never sends,
# missing commitment types, numbers of every JSON type, odd nested shapes.
EDGE_CASES = [
    ("procore", "time_entry", "hours", value)
    for value in ("8.0", "8", "1e3", " 8.0", "1_0.0", "NaN", "Infinity", "+8.0", "-0.0", "08.0", ".5", "x", 8, None)
] + [
    ("procore", "contract", "type", value) for value in ("WorkOrderContract", "PurchaseOrderContract", None, "Other", 3)
] + [
    ("procore", "budget_line_item", "original_budget_amount", value) for value in (1.5, 2, Decimal("1.50"), "1.50", None, True)
] + [
    ("procore", "budget_line_item", "cost_code", value)
    for value in ({"full_code": "01-100"}, {"full_code": "01-100", "id": 4}, {"full_code": 7}, {}, "01-100", None)
] + [
    ("dynamics", "contract", "currencyCode", value) for value in ("QAR", "", None, "XXX", 5)
] + [
    ("dynamics", "contract", "totalAmountIncludingTax", value)
    for value in (Decimal("10.5"), Decimal("10.123"), 10, 10.5, "10.50", None, Decimal("NaN"))
] + [
    ("dynamics", "time_entry", "quantity", value) for value in (Decimal("8"), Decimal("Infinity"), 8, "8", None)
] + [
    ("dynamics", "invoice", "shortcutDimension1Code", value) for value in ("LBT-2401", "UNKNOWN", "", None, 7)
]


def _numbers() -> IdMap:
    # A project known by its number (BC documents reference their job by number).
    links = IdMap()
    links.add("dynamics", "project", "proj_000000000000001", "5f6b0000-0000-0000-0000-000000000001", number="LBT-2401")
    return links


@pytest.mark.parametrize(("platform", "entity_type", "key", "value"), EDGE_CASES)
def test_fast_paths_hand_edge_cases_to_the_codecs(platform, entity_type, key, value):
    from transform.samples import samples

    record = dict(samples(platform)[entity_type])
    record[key] = value
    compiled = _compiled(platform, entity_type)
    to_reference, from_reference = compiled.reference()
    for commitment_type in (None, "PurchaseOrderContract"):
        options = commitment_options(commitment_type)
        fast_context = MappingContext(currency=CURRENCY, options=options, id_map=_numbers())
        slow_context = MappingContext(currency=CURRENCY, options=options, id_map=_numbers())
        fast = _outcome(compiled.to_canonical, record, fast_context, "prop")
        slow = _outcome(to_reference, record, slow_context, "prop")
        assert fast == slow
        if not isinstance(fast, tuple):
            assert _outcome(compiled.from_canonical, fast, fast_context) == _outcome(from_reference, slow, slow_context)
            assert fast_context.references == slow_context.references


@pytest.mark.parametrize(("platform", "entity_type"), CASES)
@SETTINGS
@given(data=st.data())
def test_canonical_json_is_pydantics_json(platform, entity_type, data):
    from canonical.encoding import canonical_json

    canonical, _ = _read(platform, entity_type, data.draw(native_records(platform, entity_type)))
    assert canonical_json(canonical) == dumps(canonical.model_dump(mode="json"))
    assert canonical_json(canonical, external_ids=False) == dumps(
        canonical.model_dump(mode="json", exclude={"external_ids"})
    )
