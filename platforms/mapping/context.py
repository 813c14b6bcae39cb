"""What a mapper knows beyond the record (``MappingContext``, ``IdMap``) and what it reports (``Reference``).

The id map's dict accessors (``canonical_ids()`` and friends) hand out the live dicts,
typed read-only: the generated mapping functions bind them to locals once per call and
look references up with a plain ``dict.get``, which is the hot path. Links are added
through ``IdMap.add`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from canonical.errors import MoneyError
from canonical.money import EXPONENTS

Direction = Literal["to_canonical", "from_canonical"]

# (platform, entity type, id or number): the key of every id map dict.
LinkKey = tuple[str, str, str]

# A reference as the mappers record it: ``Reference``'s fields, in order, as a plain tuple
# (building a dataclass per reference costs more than mapping a small record's fields).
RefRow = tuple[Direction, str, str, str, str, "str | None", "str | None", "str | None"]

# Shared by every context created without options; read-only so no caller can fill it for all.
_NO_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType({})


class IdMap:
    """Known links between canonical ids and native ids, per platform and entity type.

    Fill it with the mappings the caller knows (the store's entity mappings, or the
    ``references`` of a transform request); reading a native record also adds the links
    it establishes, so a record read from a platform and written back resolves its own
    references. ``number`` optionally records a business number (a project number), for
    platforms that reference records by number rather than id (BC documents -> jobs).

    Lookups: one link with ``native_id()``, ``canonical_id()``, ``number()`` and
    ``canonical_id_by_number()``; the whole table with ``native_ids()``,
    ``canonical_ids()``, ``numbers()`` and ``canonical_ids_by_number()``, for code that
    looks up many keys (bind the result once; it stays current as links are added).
    """

    __slots__ = ("_by_number", "_canonical", "_native", "_number")

    def __init__(self) -> None:
        self._native: dict[LinkKey, str] = {}
        self._canonical: dict[LinkKey, str] = {}
        self._number: dict[LinkKey, str] = {}
        self._by_number: dict[LinkKey, str] = {}

    def add(
        self,
        platform: str,
        entity_type: str,
        canonical_id: str,
        native_id: str | None = None,
        *,
        number: str | None = None,
    ) -> None:
        """Link ``canonical_id`` to ``native_id`` (and/or a business ``number``) on ``platform``."""
        if native_id is not None:
            self._native[platform, entity_type, canonical_id] = native_id
            self._canonical[platform, entity_type, native_id] = canonical_id
        if number is not None:
            self._number[platform, entity_type, canonical_id] = number
            self._by_number[platform, entity_type, number] = canonical_id

    def add_derived(self, platform: str, entity_type: str, native_id: str, canonical_id: str) -> str:
        """Link a canonical id just derived for ``native_id`` (the caller found no link); returns it.
        The generated code's path for a record's own id: one call per record of a seed."""
        self._native[platform, entity_type, canonical_id] = native_id
        self._canonical[platform, entity_type, native_id] = canonical_id
        return canonical_id

    def native_id(self, platform: str, entity_type: str, canonical_id: str) -> str | None:
        return self._native.get((platform, entity_type, canonical_id))

    def canonical_id(self, platform: str, entity_type: str, native_id: str) -> str | None:
        return self._canonical.get((platform, entity_type, native_id))

    def number(self, platform: str, entity_type: str, canonical_id: str) -> str | None:
        return self._number.get((platform, entity_type, canonical_id))

    def canonical_id_by_number(self, platform: str, entity_type: str, number: str) -> str | None:
        return self._by_number.get((platform, entity_type, number))

    # The tables themselves, not copies: a copy per mapped record would cost more than the
    # mapping. Read-only by type; ``add`` is the one way in.

    def native_ids(self) -> Mapping[LinkKey, str]:
        """``(platform, entity type, canonical id) -> native id``, live."""
        return self._native

    def canonical_ids(self) -> Mapping[LinkKey, str]:
        """``(platform, entity type, native id) -> canonical id``, live."""
        return self._canonical

    def numbers(self) -> Mapping[LinkKey, str]:
        """``(platform, entity type, canonical id) -> business number``, live."""
        return self._number

    def canonical_ids_by_number(self) -> Mapping[LinkKey, str]:
        """``(platform, entity type, business number) -> canonical id``, live."""
        return self._by_number

    def __len__(self) -> int:
        return len(self._native) + len(self._number)


@dataclass(frozen=True, slots=True)
class Reference:
    """One cross-record reference met while mapping.

    ``field`` is the canonical field (``contract_id``), ``native_field`` the platform's
    (``orderId``); ``platform_id`` is the native id (or number) when resolved.
    """

    direction: Direction
    platform: str
    field: str
    native_field: str
    entity_type: str
    canonical_id: str | None
    platform_id: str | None
    reason: str | None = None

    @property
    def resolved(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict[str, Any]:
        """The API shape of ``references.resolved[]`` / ``references.unresolved[]`` entries."""
        entry: dict[str, Any] = {
            "field": self.field,
            "entity_type": self.entity_type,
            "canonical_id": self.canonical_id,
            "platform": self.platform,
            "native_field": self.native_field,
        }
        if self.resolved:
            entry["platform_id"] = self.platform_id
            entry["injected"] = self.direction == "from_canonical"
        else:
            entry["reason"] = self.reason
        return entry


class MappingContext:
    """What a mapper needs beyond the record, and what it reports back.

    * ``options``: platform-specific settings, read by that platform's mapping (e.g.
      Procore's ``commitment_type``, built by ``platforms.procore.mapping.commitment_options``).
      Validating them is the platform's business; the context only carries them.
    * ``currency``: the customer's local currency, for records that carry none (BC
      customer payments, BC documents with a blank currency code); also the currency BC
      books amounts in when ``target_currency`` is not given.
    * ``target_currency``: write every amount in this currency (converted at the pegged
      rates when the canonical value is in another one).
    * ``id_map``: known canonical <-> native id links (see ``IdMap``).
    * ``rows``: the references met so far, as ``RefRow`` tuples, appended by the mappers
      (the generated code appends to it directly); ``references``, ``resolved()`` and
      ``unresolved()`` give them as ``Reference`` objects.
    """

    __slots__ = ("currency", "id_map", "options", "rows", "target_currency")

    def __init__(
        self,
        *,
        options: Mapping[str, Any] | None = None,
        currency: str | None = None,
        target_currency: str | None = None,
        id_map: IdMap | None = None,
    ) -> None:
        if currency is not None and currency not in EXPONENTS:
            raise MoneyError(f"unknown ISO 4217 currency {currency!r}", "context.currency")
        if target_currency is not None and target_currency not in EXPONENTS:
            raise MoneyError(f"unknown ISO 4217 currency {target_currency!r}", "context.targetCurrency")
        # A read-only copy: the mappers bind option values once per call and must not see them change.
        self.options: Mapping[str, Any] = MappingProxyType(dict(options)) if options else _NO_OPTIONS
        self.currency = currency
        self.target_currency = target_currency
        self.id_map = id_map if id_map is not None else IdMap()
        # Plain tuples on the hot path; Reference objects are built when someone asks.
        self.rows: list[RefRow] = []

    @property
    def references(self) -> list[Reference]:
        return [Reference(*row) for row in self.rows]

    # Filter the plain rows (reason is the last item, direction the first) before building
    # Reference objects: most callers want one side, and building them dominates small records.
    def resolved(self, direction: Direction | None = None) -> list[Reference]:
        return [Reference(*row) for row in self.rows if row[7] is None and direction in (None, row[0])]

    def unresolved(self, direction: Direction | None = None) -> list[Reference]:
        return [Reference(*row) for row in self.rows if row[7] is not None and direction in (None, row[0])]
