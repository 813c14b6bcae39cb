"""Business keys: what makes a Procore record and a Business Central record the same thing.

Reconciliation links records across platforms by the numbers people type, not by platform ids:
check numbers (payments), invoice numbers (invoices), contract numbers (contracts), project
numbers (projects) and, for customers, the tax id or else the company name. People type those
keys inconsistently ("INV 2025-0061" in one ledger, "inv-2025-0061" in the other), so every key is
normalised before it is compared.

A key is a string ``"<kind>:<normalised value>"``, e.g. ``"check:CHK20260101"`` or
``"name:doha infrastructure partners"``. That string is what gets stored (one row per record and
key) and joined on, so the in-memory matcher in ``reconcile.matching`` and the SQL join agree by
construction. The kind is part of the key so that a tax id can never equal a name, and so the
matcher knows how strong the key is (``KEY_KIND_STRENGTH``).

Which native field holds each key is the platform's (``Platform.business_keys``); everything here
is pure: no I/O, no state, same output for the same input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from canonical.entities import SYNCED_ENTITY_TYPES
from canonical.errors import RequestShapeError
from platforms.registry import get_platform, names

#: The entity types reconciliation links; other types (employees, time entries...) are not matched.
RECONCILED_ENTITY_TYPES: Final = SYNCED_ENTITY_TYPES

#: Lower is stronger. A weaker key only links records that no stronger key linked, and never
#: records whose stronger keys disagree (two customers with the same name but different tax ids
#: are different companies).
KEY_KIND_STRENGTH: Final[Mapping[str, int]] = {
    "project": 0,
    "contract": 0,
    "invoice": 0,
    "check": 0,
    "tax": 0,
    "name": 1,
}

#: Legal-form words dropped from the end of a company name ("W.L.L." arrives here as "wll").
LEGAL_SUFFIXES: Final = frozenset({
    "wll", "llc", "ltd", "limited", "co", "company", "est", "establishment", "inc", "incorporated",
    "corp", "corporation", "plc", "llp", "lp", "fze", "fzco", "fzc", "fz", "spc", "jsc", "pjsc", "cjsc",
    "psc", "qsc", "qpsc", "gmbh", "bv",
})

# Dots and apostrophes sit inside abbreviations ("W.L.L.", "Co.", "O'Neil"): delete them so the
# letters join up. Every other character that is not a letter or digit (of any script) separates
# words.
_JOINING_PUNCTUATION: Final = re.compile(r"[.'\u2018\u2019`]")
_SEPARATORS: Final = re.compile(r"[\W_]+")


_ASCII_NOT_ALNUM: Final = re.compile(r"[^0-9A-Za-z]+")


def normalize_number(value: str) -> str:
    """Canonical form of a document number: upper case, letters and digits only.

    ``"INV 2025-0061"``, ``"inv-2025-0061"`` and ``"INV-2025-0061."`` all give ``"INV20250061"``.
    Compatibility forms are folded first (full-width characters) and any Unicode decimal digit
    becomes its ASCII digit, so the stored key is plain ASCII for ordinary input.
    """
    if value.isascii():
        # NFKC leaves ASCII as it is, and the only ASCII decimals and alphanumerics are 0-9, A-Z
        # and a-z: the same result as below, without a Unicode lookup per character (seeding
        # normalises one key per record).
        return _ASCII_NOT_ALNUM.sub("", value).upper()
    chars = []
    for ch in unicodedata.normalize("NFKC", value):
        if ch.isdecimal():
            chars.append(str(unicodedata.decimal(ch)))
        elif ch.isalnum():
            chars.append(ch)
    return "".join(chars).upper()


def normalize_tax_id(value: str) -> str:
    """Canonical tax id, or ``""`` for a placeholder ("N/A", "000000000") that identifies nobody."""
    normalised = normalize_number(value)
    return normalised if any(ch in "123456789" for ch in normalised) else ""


def normalize_name(value: str) -> str:
    """Canonical company name for matching.

    Case-folded, accents removed, abbreviation dots deleted, other punctuation and "&"/"and"
    treated as word breaks, runs of single letters joined ("M E P" -> "mep"), trailing legal
    suffixes dropped (WLL, L.L.C., Ltd, Co., Est., ...) and spaces collapsed:
    ``"Doha Infrastructure Partners W.L.L."`` -> ``"doha infrastructure partners"``.
    A name made only of suffixes keeps its last word rather than becoming empty.
    """
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = _JOINING_PUNCTUATION.sub("", text)
    words = [w for w in _SEPARATORS.split(text) if w and w != "and"]
    words = _join_single_letters(words)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def _join_single_letters(words: list[str]) -> list[str]:
    joined: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:  # the sentinel flushes the last run
        if len(word) == 1:
            run.append(word)
            continue
        if run:
            joined.append("".join(run))
            run = []
        if word:
            joined.append(word)
    return joined


# Key kinds normalised otherwise than as a document number.
_NORMALISERS: Final[Mapping[str, Callable[[str], str]]] = {"tax": normalize_tax_id, "name": normalize_name}


def key_kind(key: str) -> str:
    """The kind of a key (``"check"`` for ``"check:CHK20260101"``)."""
    kind, sep, _ = key.partition(":")
    if not sep or kind not in KEY_KIND_STRENGTH:
        raise ValueError(f"not a business key: {key!r}")
    return kind


def key_strength(key: str) -> int:
    """How strong a key is; lower is stronger (see ``KEY_KIND_STRENGTH``)."""
    return KEY_KIND_STRENGTH[key_kind(key)]


def _text(value: Any) -> str | None:
    # Procore sends some numbers as ints on create and strings on read (requisition
    # invoice_number); accept both. bool is an int subclass and never a key.
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def business_keys(platform: str, entity_type: str, native: Mapping[str, Any]) -> list[str]:
    """The normalised business keys of one native record, strongest first, without duplicates.

    A Business Central customer with ``taxRegistrationNumber`` ``"300123456700003"`` and
    ``displayName`` ``"Doha Infrastructure Partners W.L.L."`` has the keys
    ``['tax:300123456700003', 'name:doha infrastructure partners']``.

    An empty list means the record carries no usable key and can only be linked by hand.
    Raises ``ValueError`` for an unknown platform or an entity type that is not reconciled.
    """
    return key_function(platform, entity_type)(native)


def key_function(platform: str, entity_type: str) -> Callable[[Mapping[str, Any]], list[str]]:
    """``business_keys`` for one platform and entity type, checked once: the seed computes the keys
    of every record it writes. The platform names the native field of each key kind
    (``Platform.business_keys``); the kinds and their normalisation are the same everywhere."""
    try:
        fields = get_platform(platform).business_keys.get(entity_type) if entity_type in RECONCILED_ENTITY_TYPES else None
    except RequestShapeError:
        raise ValueError(f"unknown platform {platform!r}; expected one of {names()}") from None
    if not fields:
        raise ValueError(f"entity type {entity_type!r} is not reconciled on {platform}; expected one of "
                         f"{get_platform(platform).synced_entity_types}")
    rules = tuple((kind, field, _NORMALISERS.get(kind, normalize_number)) for kind, field in fields)
    if len(rules) == 1:
        kind, field, normalise = rules[0]

        def one_key(native: Mapping[str, Any]) -> list[str]:
            return _keys(kind, (native.get(field),), normalise)

        return one_key

    def keys(native: Mapping[str, Any]) -> list[str]:
        found = []
        for kind, field, normalise in rules:
            found.extend(_keys(kind, (native.get(field),), normalise))
        return _unique(found)

    return keys


def _keys(kind: str, values: Iterable[Any], normalise: Callable[[str], str]) -> list[str]:
    keys = []
    for value in values:
        text = _text(value)
        if text is not None and (normalised := normalise(text)):
            keys.append(f"{kind}:{normalised}")
    return _unique(keys)


def _unique(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))
