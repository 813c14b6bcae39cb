"""Mapping between native platform records and canonical models.

A platform mapper is a table: for each entity type, an ``EntitySpec`` lists codecs,
each translating one native field (or a small group) to and from canonical fields.
``TableMapper`` runs those tables; the platform modules only declare them. That keeps
every platform quirk (money as text or number, blank-date sentinels, nested
``{id, name}`` references, status vocabularies) in one small, tested class instead of
36 hand-written functions.

Guarantees:

* Lossless round trip: native -> canonical -> same native gives back the record as
  the platform sent it. Native fields with no canonical home go to
  ``provider_metadata[platform]``; where a mapped field's original text is not what
  the writer would produce (``"250.0"`` rather than ``"250.00"``, ``8`` rather than
  ``Decimal("8")``, a blank date ``"0001-01-01"``, ``project: {id, name}``, an explicit
  ``null``), the original goes to ``provider_metadata[platform]["$raw"]`` and is written
  back as long as the canonical value still equals what it decodes to. A changed
  value is written in the platform's standard form.
* References: native ids of related records become canonical ids, computed with
  ``canonical.ids.canonical_id`` unless ``context.id_map`` already links that native
  id to a canonical id. Going out, canonical ids are translated through
  ``context.id_map``; an unknown one leaves the native field out and is reported as
  unresolved. Every translation is recorded on ``context.references``.
* Errors: ``TransformError(message, path)``; ``path`` is ``data.<native field>`` when
  reading, ``canonical.<field>`` when writing, ``context.<key>`` for missing context.

Records are produced in the platform's GET shape (Procore v1.0, BC API v2.0);
connectors wrap them into write bodies and drop read-only fields.

Speed: this is the sync hot path, so each entity table is compiled once into two
straight-line Python functions (see ``_Compiled``), models are built without
validation (``canonical.construct``), and references are recorded as plain tuples.

A canonical ``None`` is "not known" and is not written (writers send only what they
know), so clearing a native field through the canonical model is not supported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import linecache
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal, Protocol

import orjson

from canonical import construct
from canonical.errors import MoneyError, RequestShapeError, TransformError
from canonical.ids import canonical_id, derive_id
from canonical.models import CanonicalModel, model_for
from canonical.money import (
    EXPONENTS,
    Money,
    convert_minor,
    exponent,
    format_amount,
    minor_to_decimal,
    parse_text_amount,
    to_decimal,
    to_minor,
)

PLATFORMS: Final = ("procore", "dynamics")
COMMITMENT_TYPES: Final = ("WorkOrderContract", "PurchaseOrderContract")
RAW_KEY: Final = "$raw"

Direction = Literal["to_canonical", "from_canonical"]


# --- context ---------------------------------------------------------------------------


class IdMap:
    """Known links between canonical ids and native ids, per platform and entity type.

    Fill it with the mappings the caller knows (the store's entity mappings, or the
    ``references`` of a transform request); reading a native record also adds the links
    it establishes, so a record read from a platform and written back resolves its own
    references. ``number`` optionally records a business number (a project number), for
    platforms that reference records by number rather than id (BC documents -> jobs).
    """

    __slots__ = ("_by_number", "_canonical", "_native", "_number")

    def __init__(self) -> None:
        self._native: dict[tuple[str, str, str], str] = {}
        self._canonical: dict[tuple[str, str, str], str] = {}
        self._number: dict[tuple[str, str, str], str] = {}
        self._by_number: dict[tuple[str, str, str], str] = {}

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

    def native_id(self, platform: str, entity_type: str, canonical_id: str) -> str | None:
        return self._native.get((platform, entity_type, canonical_id))

    def canonical_id(self, platform: str, entity_type: str, native_id: str) -> str | None:
        return self._canonical.get((platform, entity_type, native_id))

    def number(self, platform: str, entity_type: str, canonical_id: str) -> str | None:
        return self._number.get((platform, entity_type, canonical_id))

    def canonical_id_by_number(self, platform: str, entity_type: str, number: str) -> str | None:
        return self._by_number.get((platform, entity_type, number))

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


_RefRow = tuple[Direction, str, str, str, str, "str | None", "str | None", "str | None"]


class MappingContext:
    """What a mapper needs beyond the record, and what it reports back.

    * ``commitment_type``: ``WorkOrderContract`` or ``PurchaseOrderContract``, for Procore
      contracts whose record does not carry ``type`` (the v1.0 per-type endpoints).
    * ``currency``: the customer's local currency, for records that carry none (BC
      customer payments, BC documents with a blank currency code); also the currency BC
      books amounts in when ``target_currency`` is not given.
    * ``target_currency``: write every amount in this currency (converted at the pegged
      rates when the canonical value is in another one).
    * ``id_map``: known canonical <-> native id links (see ``IdMap``).
    * ``references``: filled by the mappers (see ``Reference``).
    """

    __slots__ = ("_rows", "commitment_type", "currency", "id_map", "target_currency")

    def __init__(
        self,
        *,
        commitment_type: str | None = None,
        currency: str | None = None,
        target_currency: str | None = None,
        id_map: IdMap | None = None,
    ) -> None:
        if commitment_type is not None and commitment_type not in COMMITMENT_TYPES:
            raise TransformError(
                f"commitment type must be one of {', '.join(COMMITMENT_TYPES)}, got {commitment_type!r}",
                "context.commitmentType",
            )
        if currency is not None and currency not in EXPONENTS:
            raise MoneyError(f"unknown ISO 4217 currency {currency!r}", "context.currency")
        if target_currency is not None and target_currency not in EXPONENTS:
            raise MoneyError(f"unknown ISO 4217 currency {target_currency!r}", "context.targetCurrency")
        self.commitment_type = commitment_type
        self.currency = currency
        self.target_currency = target_currency
        self.id_map = id_map if id_map is not None else IdMap()
        # Plain tuples on the hot path; Reference objects are built when someone asks.
        self._rows: list[_RefRow] = []

    @property
    def references(self) -> list[Reference]:
        return [Reference(*row) for row in self._rows]

    # Filter the plain rows (reason is the last item, direction the first) before building
    # Reference objects: most callers want one side, and building them dominates small records.
    def resolved(self, direction: Direction | None = None) -> list[Reference]:
        return [Reference(*row) for row in self._rows if row[7] is None and direction in (None, row[0])]

    def unresolved(self, direction: Direction | None = None) -> list[Reference]:
        return [Reference(*row) for row in self._rows if row[7] is not None and direction in (None, row[0])]


# --- per-record state ------------------------------------------------------------------


def link(
    context: MappingContext,
    platform: str,
    customer_id: str,
    entity_type: str,
    native_id: str,
    field: str,
    native_field: str,
    *,
    record: bool = True,
) -> str:
    """Canonical id for a native id of ``platform``: the id map's link if it has one, else derived.

    A link already in the map wins (a record matched to one first seen elsewhere). A
    derived id is added to the map, so the next reference to the same record is one
    dict lookup and a write back to this platform resolves it. ``record`` adds the
    reference to ``context.references``; a record's own id (``record=False``) is derived
    without the memo, which only pays off for ids met more than once.
    """
    id_map = context.id_map
    key = (platform, entity_type, native_id)
    cid = id_map._canonical.get(key)
    if cid is None:
        cid = (canonical_id if record else derive_id)(entity_type, customer_id, platform, native_id)
        id_map._canonical[key] = cid
        id_map._native[platform, entity_type, cid] = native_id
    if record:
        context._rows.append(("to_canonical", platform, field, native_field, entity_type, cid, native_id, None))
    return cid


class Reader:
    """State of one native -> canonical translation, for the codecs' methods."""

    __slots__ = ("context", "customer_id", "platform", "raw", "record_refs")

    def __init__(
        self,
        platform: str,
        customer_id: str,
        context: MappingContext,
        raw: dict[str, Any],
        *,
        record_refs: bool = True,
    ) -> None:
        self.platform = platform
        self.customer_id = customer_id
        self.context = context
        self.raw = raw  # shared with the record's other fields
        self.record_refs = record_refs

    def keep(self, key: str, value: Any) -> None:
        """Remember the original native value of a mapped field the writer would not reproduce."""
        self.raw[key] = value

    def link(self, entity_type: str, native_id: str, field: str, native_field: str) -> str:
        """Canonical id for a native reference (see ``link``)."""
        return link(
            self.context,
            self.platform,
            self.customer_id,
            entity_type,
            native_id,
            field,
            native_field,
            record=self.record_refs,
        )

    def unresolved(self, entity_type: str, field: str, native_field: str, platform_id: str, reason: str) -> None:
        if self.record_refs:
            self.context._rows.append(
                ("to_canonical", self.platform, field, native_field, entity_type, None, platform_id, reason)
            )


class Writer:
    """State of one canonical -> native translation."""

    __slots__ = ("context", "metadata", "platform", "values")

    def __init__(self, platform: str, context: MappingContext, values: dict[str, Any], metadata: Mapping[str, Any]):
        self.platform = platform
        self.context = context
        self.values = values
        self.metadata = metadata

    def native_ref(self, entity_type: str, cid: str, field: str, native_field: str) -> str | None:
        """The native id linked to ``cid`` (recorded as a reference), or None when unknown."""
        native_id = self.context.id_map._native.get((self.platform, entity_type, cid))
        reason = None if native_id is not None else f"no {self.platform} id known for {entity_type} {cid}"
        self.context._rows.append(
            ("from_canonical", self.platform, field, native_field, entity_type, cid, native_id, reason)
        )
        return native_id


# --- codecs ----------------------------------------------------------------------------
#
# A codec's ``read``/``write`` methods are the reference semantics. A codec may also
# offer ``read_fast``/``write_fast``: source lines for the common case (a value already
# in the platform's standard form), which ``_Compiled`` inlines into one generated
# function per entity type, delegating every other case to the methods. The names
# those lines may use are listed above ``_TO_CANONICAL``.


def slow_read(name: str) -> str:
    """Source calling codec ``name``'s ``read`` (its state objects are built only when needed)."""
    return f"{name}.read(record, _Reader(platform, customer_id, context, raw), data)"


def slow_write(name: str) -> str:
    """Source calling codec ``name``'s ``write``."""
    return f"{name}.write(_Writer(platform, context, values, metadata), out)"


def _text_of(value: Any, path: str) -> str:
    # Native ids and numbers arrive as int (Procore) or str (BC); canonical keeps text.
    if type(value) is str:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return str(value)
    raise TransformError(f"expected a string or integer, got {type(value).__name__}", path)


def _is_mapping(value: Any) -> bool:
    # ``isinstance(x, Mapping)`` goes through the ABC machinery; JSON gives plain dicts.
    return type(value) is dict or isinstance(value, Mapping)


class Codec:
    """Translates native ``keys`` to canonical ``fields`` and back."""

    __slots__ = ("field", "fields", "key", "keys", "path", "write_path")

    def __init__(self, field: str, key: str) -> None:
        self.field = field
        self.key = key
        self.keys: tuple[str, ...] = (key,)  # every native key the codec consumes
        self.fields: tuple[str, ...] = (field,)  # every canonical field it fills
        self.path = f"data.{key}"
        self.write_path = f"canonical.{field}"

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        raise NotImplementedError

    def read_fast(self, name: str) -> list[str] | None:
        """Inline source for the common case of ``read`` (None: always call ``read``)."""
        return None

    def read_none(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any], value: Any) -> None:
        """The field is null, blank or absent: read None, keeping what was sent (if anything)."""
        if self.key in record:
            reader.keep(self.key, value)
        data[self.field] = None

    def write_fast(self, name: str) -> list[str] | None:
        """Inline source for the common case of ``write`` (None: always call ``write``)."""
        return None

    def matches(self, restored: Mapping[str, Any], out: Mapping[str, Any], writer: Writer) -> bool:
        """Whether the original native values ``restored`` still decode to the canonical values written."""
        decoded: dict[str, Any] = {}
        try:
            scratch = Reader(writer.platform, "", writer.context, {}, record_refs=False)
            self.read({**out, **restored}, scratch, decoded)
        except TransformError:
            return False
        return all(decoded[field] == writer.values[field] for field in self.fields)

    def describe(self, field: str) -> str:
        """The native side of ``field``, for the generated docs."""
        return f"`{self.key}`"

    def _emit_optional_write(self, expression: str) -> list[str]:
        return [f"v = values[{self.field!r}]", "if v is not None:", f"    out[{self.key!r}] = {expression}"]


class _Blankable(Codec):
    """A codec whose platform has an "empty" value meaning no value (read as None)."""

    __slots__ = ("blank",)

    def __init__(self, field: str, key: str, *, blank: str | None = None) -> None:
        super().__init__(field, key)
        self.blank = blank


class Text(_Blankable):
    """A string field; ``blank`` is the platform's empty value (BC sends ``""``), read as None.

    Integers are accepted (Procore sends some numbers either way) and kept as text.
    """

    __slots__ = ()

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        value = record.get(self.key)
        if type(value) is str and value != self.blank:
            data[self.field] = value
        elif value is None or value == self.blank:
            self.read_none(record, reader, data, value)
        else:
            reader.keep(self.key, value)
            data[self.field] = _text_of(value, self.path)

    def read_fast(self, name: str) -> list[str] | None:
        blank = "" if self.blank is None else f" and v != {self.blank!r}"
        return [
            f"v = get({self.key!r})",
            f"if type(v) is str{blank}:",
            f"    data[{self.field!r}] = v",
            "elif v is not None:",
            f"    {slow_read(name)}",
            f"elif {self.key!r} in record:",
            f"    raw[{self.key!r}] = None",
        ]

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        value = writer.values[self.field]
        if value is not None:
            out[self.key] = value

    def write_fast(self, name: str) -> list[str] | None:
        return self._emit_optional_write("v")


class NestedText(Text):
    """A string inside a nested object, e.g. Procore ``cost_code.full_code``."""

    __slots__ = ("sub",)

    def __init__(self, field: str, key: str, sub: str) -> None:
        super().__init__(field, key)
        self.sub = sub

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        outer = record.get(self.key)
        if outer is None:
            self.read_none(record, reader, data, None)
            return
        if not _is_mapping(outer):
            raise TransformError(f"expected an object, got {type(outer).__name__}", self.path)
        if len(outer) != 1:
            reader.keep(self.key, outer)
        value = outer.get(self.sub)
        data[self.field] = None if value is None else _text_of(value, f"{self.path}.{self.sub}")

    def read_fast(self, name: str) -> list[str] | None:
        return [
            f"v = get({self.key!r})",
            f"s = v.get({self.sub!r}) if type(v) is dict else None",
            "if type(s) is str:",
            "    if len(v) != 1:",
            f"        raw[{self.key!r}] = v",
            f"    data[{self.field!r}] = s",
            "else:",
            f"    {slow_read(name)}",
        ]

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        value = writer.values[self.field]
        if value is not None:
            out[self.key] = {self.sub: value}

    def write_fast(self, name: str) -> list[str] | None:
        return self._emit_optional_write(f"{{{self.sub!r}: v}}")

    def describe(self, field: str) -> str:
        return f"`{self.key}.{self.sub}`"


class Constant(Codec):
    """A canonical value the platform implies rather than states (BC payments are ``pending``)."""

    __slots__ = ("value",)

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(field, "")
        self.keys = ()
        self.value = value

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        data[self.field] = self.value

    def read_fast(self, name: str) -> list[str] | None:
        return [f"data[{self.field!r}] = {name}.value"]

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        return  # nothing to write: the platform has no such field

    def write_fast(self, name: str) -> list[str] | None:
        return []

    def describe(self, field: str) -> str:
        return f"none (always `{self.value}`)"


class Date(_Blankable):
    """A ``YYYY-MM-DD`` date; ``blank`` is the platform's empty-date sentinel (BC ``0001-01-01``)."""

    __slots__ = ()

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        value = record.get(self.key)
        if value is None or value == self.blank:
            self.read_none(record, reader, data, value)
            return
        # fromisoformat alone also takes week dates and compact forms; platforms send
        # the extended calendar form only, so anything else is a wrong field.
        if type(value) is not str or len(value) != 10 or value[4] != "-" or value[7] != "-":
            raise TransformError(f"expected a YYYY-MM-DD date, got {value!r}", self.path)
        try:
            data[self.field] = dt.date.fromisoformat(value)
        except ValueError:
            raise TransformError(f"not a valid date: {value!r}", self.path) from None

    def read_fast(self, name: str) -> list[str] | None:
        blank = "" if self.blank is None else f" and v != {self.blank!r}"
        return [
            f"v = get({self.key!r})",
            f"if type(v) is str and len(v) == 10 and v[4] == '-' and v[7] == '-'{blank}:",
            "    try:",
            f"        data[{self.field!r}] = _date(v)",
            "    except ValueError:",
            f"        {slow_read(name)}",
            "else:",
            f"    {slow_read(name)}",
        ]

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        value = writer.values[self.field]
        if value is not None:
            out[self.key] = value.isoformat()

    def write_fast(self, name: str) -> list[str] | None:
        return self._emit_optional_write("v.isoformat()")


class Choice(Codec):
    """A closed vocabulary mapped by explicit tables in both directions.

    ``read_table`` may map several native values to one canonical value; ``write_table``
    picks the native value written for each canonical one. Native values that the
    write table would not reproduce are kept as raw, so round trips stay exact.
    """

    __slots__ = ("kind", "lossy", "read_table", "write_table")

    def __init__(self, field: str, key: str, read_table: Mapping[Any, str], write_table: Mapping[str, Any]) -> None:
        super().__init__(field, key)
        self.read_table = dict(read_table)
        self.write_table = dict(write_table)
        kinds = {type(value) for value in read_table}
        if len(kinds) != 1 or not set(write_table.values()) <= set(read_table):
            raise ValueError(f"inconsistent tables for {key}")
        self.kind = kinds.pop()
        self.lossy = frozenset(native for native, canon in read_table.items() if write_table.get(canon) != native)

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        value = record.get(self.key)
        if value is None:
            self.read_none(record, reader, data, None)
            return
        # bool is checked by exact type: True == 1 would otherwise match an int table.
        canonical = self.read_table.get(value) if type(value) is self.kind else None
        if canonical is None:
            expected = ", ".join(repr(v) for v in self.read_table)
            raise TransformError(f"unknown {self.key} {value!r}; expected one of {expected}", self.path)
        if value in self.lossy:
            reader.keep(self.key, value)
        data[self.field] = canonical

    def read_fast(self, name: str) -> list[str] | None:
        return [
            f"v = get({self.key!r})",
            f"c = {name}.read_table.get(v) if type(v) is {self.kind.__name__} else None",
            f"if c is not None and v not in {name}.lossy:",
            f"    data[{self.field!r}] = c",
            "else:",
            f"    {slow_read(name)}",
        ]

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        value = writer.values[self.field]
        if value is None:
            return
        native = self.write_table.get(value)
        if native is None:
            raise TransformError(
                f"{self.field} {value!r} has no {writer.platform} equivalent ({self.key})", self.write_path
            )
        out[self.key] = native

    def write_fast(self, name: str) -> list[str] | None:
        return [
            f"v = values[{self.field!r}]",
            "if v is not None:",
            f"    n = {name}.write_table.get(v)",
            "    if n is None:",
            f"        {slow_write(name)}",
            "    else:",
            f"        out[{self.key!r}] = n",
        ]

    def describe(self, field: str) -> str:
        pairs = ", ".join(f"`{native}`→`{canon}`" for native, canon in self.read_table.items())
        return f"`{self.key}` ({pairs})"


class Ref(Codec):
    """A reference to another record by native id, flat (``contract_id``) or nested (``project.id``)."""

    __slots__ = ("blank", "entity_type", "id_kind", "label", "nested")

    def __init__(
        self,
        field: str,
        key: str,
        entity_type: str,
        *,
        nested: bool = False,
        id_kind: type = str,
        blank: str | None = None,
    ) -> None:
        super().__init__(field, key)
        self.entity_type = entity_type
        self.nested = nested
        self.id_kind = id_kind
        self.blank = blank  # the platform's "no reference" value (BC: the empty GUID)
        self.label = f"{key}.id" if nested else key

    def native_of(self, value: Any) -> Any:
        """The native id in a field value (``None`` for no reference)."""
        if self.nested and value is not None:
            if not _is_mapping(value):
                raise TransformError(f"expected an object with an id, got {type(value).__name__}", self.path)
            value = value.get("id")
        return None if value == self.blank or value == "" else value

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        value = record.get(self.key)
        native = self.native_of(value)
        if native is None:
            self.read_none(record, reader, data, value)
            return
        if type(native) is not self.id_kind or (self.nested and len(value or ()) != 1):
            reader.keep(self.key, value)
        native_id = _text_of(native, f"data.{self.label}")
        data[self.field] = reader.link(self.entity_type, native_id, self.field, self.label)

    def read_fast(self, name: str) -> list[str] | None:
        # Procore sends int ids (nested objects also carry a name: kept as raw); BC GUIDs.
        lines = [f"v = get({self.key!r})"]
        if self.nested:
            lines += ["n = v.get('id') if type(v) is dict else None"]
        else:
            lines += ["n = v"]
        check = "type(n) is int" if self.id_kind is int else f"type(n) is str and n and n != {self.blank!r}"
        lines += [f"if {check}:"]
        if self.nested:
            lines += ["    if len(v) != 1:", f"        raw[{self.key!r}] = v"]
        if self.id_kind is int:
            lines += ["    n = str(n)"]
        row = f"('to_canonical', platform, {self.field!r}, {self.label!r}, {self.entity_type!r}, cid, n, None)"
        return [
            *lines,
            f"    cid = links.get((platform, {self.entity_type!r}, n))",
            "    if cid is None:",
            f"        cid = _link(context, platform, customer_id, {self.entity_type!r}, n, {self.field!r}, {self.label!r})",
            "    else:",
            f"        rows.append({row})",
            f"    data[{self.field!r}] = cid",
            "else:",
            f"    {slow_read(name)}",
        ]

    def matches(self, restored: Mapping[str, Any], out: Mapping[str, Any], writer: Writer) -> bool:
        # Compared on native ids: decoding would need the customer the canonical ids
        # were minted for, which a canonical record does not carry.
        native = self.native_of(restored[self.key])
        written = self.native_of(out.get(self.key))
        if native is None or written is None:
            return native is written
        return _text_of(native, self.path) == _text_of(written, self.path)

    def encode(self, native_id: str) -> Any:
        value: Any = int(native_id) if self.id_kind is int and native_id.isdecimal() else native_id
        return {"id": value} if self.nested else value

    def encode_source(self, name: str) -> str:
        value = f"(int({name}) if {name}.isdecimal() else {name})" if self.id_kind is int else name
        return f"{{'id': {value}}}" if self.nested else value

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        cid = writer.values[self.field]
        if cid is not None:
            native_id = writer.native_ref(self.entity_type, cid, self.field, self.label)
            if native_id is not None:
                out[self.key] = self.encode(native_id)

    def write_fast(self, name: str) -> list[str] | None:
        row = f"('from_canonical', platform, {self.field!r}, {self.label!r}, {self.entity_type!r}, v, n, None)"
        return [
            f"v = values[{self.field!r}]",
            "if v is not None:",
            f"    n = natives.get((platform, {self.entity_type!r}, v))",
            "    if n is None:",
            f"        {slow_write(name)}",
            "    else:",
            f"        rows.append({row})",
            f"        out[{self.key!r}] = {self.encode_source('n')}",
        ]

    def describe(self, field: str) -> str:
        return f"`{self.label}`"


class NumberRef(Codec):
    """A reference by business number, e.g. BC ``shortcutDimension1Code`` = the job (project) number.

    Fills two canonical fields: the number itself (always kept) and the canonical id of
    the record with that number, when ``context.id_map`` knows it.
    """

    __slots__ = ("entity_type", "number_field")

    def __init__(self, field: str, number_field: str, key: str, entity_type: str) -> None:
        super().__init__(field, key)
        self.fields = (field, number_field)
        self.number_field = number_field
        self.entity_type = entity_type

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        number = record.get(self.key)
        cid = None
        if not number:  # BC sends "" for an empty code
            if self.key in record:
                reader.keep(self.key, number)
            number = None
        else:
            number = _text_of(number, self.path)
            cid = reader.context.id_map._by_number.get((reader.platform, self.entity_type, number))
            if cid is None:
                reason = f"no {self.entity_type} with number {number!r} known in context"
                reader.unresolved(self.entity_type, self.field, self.key, number, reason)
        data[self.field] = cid
        data[self.number_field] = number

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        cid = writer.values[self.field]
        number = None
        if cid is not None:
            number = writer.context.id_map._number.get((writer.platform, self.entity_type, cid))
        if number is None:
            number = writer.values[self.number_field]
        if cid is not None:
            reason = None if number is not None else f"no {writer.platform} number known for {self.entity_type} {cid}"
            writer.context._rows.append(
                ("from_canonical", writer.platform, self.field, self.key, self.entity_type, cid, number, reason)
            )
        if number is not None:
            out[self.key] = number

    def read_fast(self, name: str) -> list[str] | None:
        # The common case: a number the id map knows (no reference row: only unresolved ones are).
        return [
            f"v = get({self.key!r})",
            f"cid = context.id_map._by_number.get((platform, {self.entity_type!r}, v)) if type(v) is str and v else None",
            "if cid is not None:",
            f"    data[{self.field!r}] = cid",
            f"    data[{self.number_field!r}] = v",
            "else:",
            f"    {slow_read(name)}",
        ]

    def write_fast(self, name: str) -> list[str] | None:
        # The common case: a linked record whose number the id map knows.
        row = f"('from_canonical', platform, {self.field!r}, {self.key!r}, {self.entity_type!r}, v, n, None)"
        return [
            f"v = values[{self.field!r}]",
            f"n = context.id_map._number.get((platform, {self.entity_type!r}, v)) if v is not None else None",
            "if n is not None:",
            f"    rows.append({row})",
            f"    out[{self.key!r}] = n",
            "else:",
            f"    {slow_write(name)}",
        ]

    def describe(self, field: str) -> str:
        return f"`{self.key}` (by number)" if field == self.field else f"`{self.key}`"


class DecimalValue(Codec):
    """An exact decimal quantity (hours): text on Procore (``"8.0"``), a JSON number on BC."""

    __slots__ = ("as_text",)

    def __init__(self, field: str, key: str, *, as_text: bool) -> None:
        super().__init__(field, key)
        self.as_text = as_text

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        raw = record.get(self.key)
        if raw is None:
            self.read_none(record, reader, data, None)
            return
        try:
            value = to_decimal(raw)
        except MoneyError as error:
            raise error.at(self.path) from None
        if (self.encode(value) != raw) if self.as_text else (type(raw) is not Decimal):
            reader.keep(self.key, raw)
        data[self.field] = value

    def read_fast(self, name: str) -> list[str] | None:
        if not self.as_text:  # BC: a JSON number, parsed as a Decimal (see canonical.jsonio)
            return [
                f"v = get({self.key!r})",
                "if type(v) is _Decimal and v.is_finite():",
                f"    data[{self.field!r}] = v",
                "else:",
                f"    {slow_read(name)}",
            ]
        # Procore: decimal text. Decimal() also takes "1e3", " 8", "1_0" and "NaN", but none
        # of those is written back identically, so the equality sends them to ``read``.
        return [
            f"v = get({self.key!r})",
            "try:",
            "    d = _Decimal(v) if type(v) is str else None",
            "except _DecimalError:",
            "    d = None",
            f"if d is not None and {name}.encode(d) == v:",
            f"    data[{self.field!r}] = d",
            "else:",
            f"    {slow_read(name)}",
        ]

    def encode(self, value: Decimal) -> Any:
        if not self.as_text:
            return value
        text = format(value, "f")
        return text if "." in text else f"{text}.0"

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        value = writer.values[self.field]
        if value is not None:
            out[self.key] = self.encode(value)

    def write_fast(self, name: str) -> list[str] | None:
        return self._emit_optional_write(f"{name}.encode(v)")


CurrencyOf = Callable[[Mapping[str, Any], MappingContext], "str | None"]
WriteCurrency = Callable[[Money, MappingContext, Mapping[str, Any]], str]


class Amount(Codec):
    """Money: a decimal string or JSON number in ``key``, its currency from ``currency_key`` or elsewhere.

    ``currency_of`` names the currency of a native record that carries none in
    ``currency_key``; ``write_currency`` picks the currency to book the value in on
    this platform (the value is converted at the pegged rates when they differ).
    """

    __slots__ = ("as_text", "currency_key", "currency_of", "missing_currency", "write_currency")

    def __init__(
        self,
        field: str,
        key: str,
        *,
        as_text: bool,
        currency_of: CurrencyOf,
        write_currency: WriteCurrency,
        currency_key: str | None = None,
        missing_currency: str = "pass context.currency",
    ) -> None:
        super().__init__(field, key)
        self.as_text = as_text
        self.currency_key = currency_key
        self.currency_of = currency_of
        self.write_currency = write_currency
        self.missing_currency = missing_currency
        if currency_key:
            self.keys = (key, currency_key)

    @property
    def currency_path(self) -> str:
        return f"data.{self.currency_key}" if self.currency_key else "context.currency"

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        raw = record.get(self.key)
        code = record.get(self.currency_key) if self.currency_key else None
        if self.currency_key and self.currency_key in record:
            # Kept so a write-back can tell the record's own currency from the context's.
            reader.keep(self.currency_key, code)
        if raw is None:
            self.read_none(record, reader, data, None)
            return
        if not code:  # BC: blank means the local currency
            code = self.currency_of(record, reader.context)
            if code is None:
                raise TransformError(f"the amount has no currency: {self.missing_currency}", "context.currency")
        exp = EXPONENTS.get(code) if type(code) is str else None
        if exp is None:
            raise MoneyError(f"unknown ISO 4217 currency {code!r}", self.currency_path)
        try:
            if type(raw) is str:
                minor, standard = parse_text_amount(raw, exp, code)
                keep = not (self.as_text and standard)
            else:
                minor = to_minor(raw, code)
                # BC numbers are written back as Decimals with the currency's decimals; and
                # an amount whose currency was kept is kept with it, to restore them as a pair.
                keep = (
                    self.as_text
                    or self.currency_key is not None
                    or type(raw) is not Decimal
                    or raw.as_tuple().exponent != -exp
                )
        except MoneyError as error:
            raise error.at(self.path) from None
        if keep:
            reader.keep(self.key, raw)
        data[self.field] = Money.of(minor, code)

    def read_fast(self, name: str) -> list[str] | None:
        money = [
            "    money = _new(_Money)",
            "    _set_dict(money, {'amount': minor, 'currency': code})",
            "    _set_fields_set(money, _money_fields)",
            "    _set_extra(money, None)",
            "    _set_private(money, None)",
            f"    data[{self.field!r}] = money",
            "else:",
            f"    {slow_read(name)}",
        ]
        if self.as_text and not self.currency_key:
            # Procore: a decimal string in the record's (or the default) currency.
            return [
                f"v = get({self.key!r})",
                f"code = {name}.currency_of(record, context)",
                "exp = _EXPONENTS.get(code)",
                "if type(v) is str and exp is not None:",
                "    try:",
                "        minor, standard = _parse_text_amount(v, exp, code)",
                "    except _MoneyError as error:",
                f"        raise error.at({self.path!r}) from None",
                "    if not standard:",
                f"        raw[{self.key!r}] = v",
                *money,
            ]
        if self.as_text:
            return None
        # A JSON number (BC amounts; a few Procore resources), in the record's currency
        # field when it has one (kept, see ``read``), else the one ``currency_of`` names.
        lines = [f"v = get({self.key!r})"]
        if self.currency_key:
            lines += [
                f"code = get({self.currency_key!r})",
                f"if {self.currency_key!r} in record:",
                f"    raw[{self.currency_key!r}] = code",
                "if not code:",
                f"    code = {name}.currency_of(record, context)",
            ]
            keep = "True"
        else:
            lines += [f"code = {name}.currency_of(record, context)"]
            keep = "type(v) is not _Decimal or v.as_tuple().exponent != -exp"
        return [
            *lines,
            "exp = _EXPONENTS.get(code) if type(code) is str else None",
            # A float only from a parser without Decimal support (orjson): exact via its repr.
            "if exp is not None and (type(v) is _Decimal or type(v) is int or type(v) is float):",
            "    try:",
            "        minor = _to_minor(v, code)",
            "    except _MoneyError as error:",
            f"        raise error.at({self.path!r}) from None",
            f"    if {keep}:",
            f"        raw[{self.key!r}] = v",
            *money,
        ]

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        money: Money | None = writer.values[self.field]
        if money is not None:
            self.put(money, self.write_currency(money, writer.context, writer.metadata), out)

    def write_fast(self, name: str) -> list[str] | None:
        return [
            f"v = values[{self.field!r}]",
            "if v is not None:",
            f"    {name}.put(v, {name}.write_currency(v, context, metadata), out)",
        ]

    def put(self, money: Money, target: str, out: dict[str, Any]) -> None:
        """Write ``money`` in the ``target`` currency."""
        amount = money.amount
        if money.currency != target:
            try:
                amount = convert_minor(amount, money.currency, target)
            except MoneyError as error:
                raise error.at(self.write_path) from None
        out[self.key] = format_amount(amount, target) if self.as_text else minor_to_decimal(amount, target)
        if self.currency_key:
            out[self.currency_key] = target

    def describe(self, field: str) -> str:
        return f"`{self.key}` + `{self.currency_key}`" if self.currency_key else f"`{self.key}`"


class CurrencyCode(Codec):
    """An ISO 4217 code field (BC customer ``currencyCode``); blank means the local currency.

    Written as the context's currency when it has one (a Procore vendor is "USD" only
    because Procore books in dollars); the original is kept so a record read from BC
    goes back with its own code.
    """

    __slots__ = ()

    def read(self, record: Mapping[str, Any], reader: Reader, data: dict[str, Any]) -> None:
        if self.key not in record:
            data[self.field] = None
            return
        code = record[self.key]
        reader.keep(self.key, code)
        if not code:
            data[self.field] = reader.context.currency
            return
        try:
            exponent(code)
        except MoneyError as error:
            raise error.at(self.path) from None
        data[self.field] = code

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        code = writer.values[self.field]
        if code is not None:
            out[self.key] = writer.context.target_currency or writer.context.currency or code

    def write_fast(self, name: str) -> list[str] | None:
        return self._emit_optional_write("context.target_currency or context.currency or v")


# --- entity specs, compiled ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """How one entity type maps on one platform."""

    entity_type: str
    resource: str
    codecs: tuple[Codec, ...]
    notes: str = ""


_GENERATED_GLOBALS: Final = {
    "_date": dt.date.fromisoformat,
    "_EXPONENTS": EXPONENTS,
    "_parse_text_amount": parse_text_amount,
    "_to_minor": to_minor,
    "_Decimal": Decimal,
    "_DecimalError": ArithmeticError,  # what Decimal() raises on text it cannot parse
    "_MoneyError": MoneyError,
    "_Money": Money,
    "_money_fields": Money._fields_set,
    # The slot setters of canonical.construct.adopt, inlined: two models per record.
    "_new": construct.new,
    "_set_dict": construct.set_dict,
    "_set_fields_set": construct.set_fields_set,
    "_set_extra": construct.set_extra,
    "_set_private": construct.set_private,
    "_link": link,
    "_Reader": Reader,
    "_Writer": Writer,
    "_EMPTY": {},
}

# The generated functions. Codec source may use the locals set up here: ``record``,
# ``get``, ``raw``, ``context``, ``customer_id``, ``platform``, ``links``, ``rows`` and
# ``data`` when reading; ``values``, ``metadata``, ``context``, ``platform``,
# ``natives``, ``rows`` and ``out`` when writing.
_TO_CANONICAL: Final = """\
def to_canonical_{label}(record, context, customer_id):
    platform = {platform!r}
    raw = {{}}
    get = record.get
    links = context.id_map._canonical
    rows = context._rows
    data = _template.copy()
{body}
    v = get("id")
    if {own_id_check}:
        n = {own_id_text}
        cid = links.get((platform, {entity!r}, n))
        if cid is None:
            cid = _link(context, platform, customer_id, {entity!r}, n, "id", "id", record=False)
        data["id"] = cid
        data["external_ids"] = {{platform: n}}
    else:
        _own_id(record, _Reader(platform, customer_id, context, raw), data, {entity!r}, _id_kind)
    metadata = dict(record)
{drop_consumed}
    if raw:
        metadata["$raw"] = raw
    data["provider_metadata"] = {{platform: metadata}}
    model = _new(_model)
    _set_dict(model, data)
    _set_fields_set(model, _fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model
"""
_FROM_CANONICAL: Final = """\
def from_canonical_{label}(canonical, context):
    platform = {platform!r}
    values = canonical.__dict__
    metadata = values["provider_metadata"].get(platform) or _EMPTY
    natives = context.id_map._native
    rows = context._rows
    out = {{}}
    n = values["external_ids"].get(platform) or natives.get((platform, {entity!r}, values["id"]))
    if n is not None:
        out["id"] = {own_id_native}
{body}
    if metadata:
        _merge_metadata(_compiled, out, _Writer(platform, context, values, metadata))
    return out
"""


def _own_id(record: Mapping[str, Any], reader: Reader, data: dict[str, Any], entity_type: str, id_kind: type) -> None:
    # A record's own id, for the cases the generated code leaves out: none yet (a record
    # to be created), or one of the other type (a Procore id sent as text).
    native_id = record.get("id")
    if native_id is None:
        # Derived from the content, so the same payload always gets the same id.
        try:
            digest = hashlib.sha256(orjson.dumps(record, default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except TypeError as error:  # integers beyond 64 bits: no platform sends those
            raise TransformError(f"unsupported value in the record: {error}", "data") from None
        data["id"] = canonical_id(entity_type, reader.customer_id, reader.platform, f"content:{digest}")
        data["external_ids"] = {}
        return
    if type(native_id) is not id_kind:
        reader.keep("id", native_id)
    native_id = _text_of(native_id, "data.id")
    data["id"] = link(
        reader.context, reader.platform, reader.customer_id, entity_type, native_id, "id", "id", record=False
    )
    data["external_ids"] = {reader.platform: native_id}


def _merge_metadata(compiled: _Compiled, out: dict[str, Any], writer: Writer) -> None:
    # The platform's own unmapped fields, then the original text of mapped fields whose
    # canonical value is still what that text decodes to (a changed value keeps the
    # freshly written form).
    metadata = writer.metadata
    for key, value in metadata.items():
        if key not in out and key != RAW_KEY:
            out[key] = value
    raw = metadata.get(RAW_KEY)
    if not raw:
        return
    if "id" in raw and "id" in out and _text_of(raw["id"], "data.id") == str(out["id"]):
        out["id"] = raw["id"]
    done: set[int] = set()
    for key in raw:
        codec = compiled.codec_of_key.get(key)
        if codec is None or id(codec) in done:
            continue
        done.add(id(codec))
        restored = {k: raw[k] for k in codec.keys if k in raw}
        if codec.matches(restored, out, writer):
            out.update(restored)


ToCanonical = Callable[[Mapping[str, Any], MappingContext, str], CanonicalModel]
FromCanonical = Callable[[CanonicalModel, MappingContext], dict[str, Any]]


class _Compiled:
    """An EntitySpec compiled into one function per direction.

    The functions are generated from the codecs' inline source (the technique
    ``dataclasses`` uses for ``__init__``): a record in the platform's standard form
    runs as straight-line code, with no per-field calls; anything else is handed to
    the codec's method. ``reference()`` builds the same functions from the methods
    alone, which the tests compare against.
    """

    __slots__ = ("codec_of_key", "consumed", "from_canonical", "id_kind", "model", "platform", "spec", "to_canonical")

    def __init__(self, platform: str, spec: EntitySpec, id_kind: type) -> None:
        self.platform = platform
        self.spec = spec
        self.id_kind = id_kind
        self.model = model_for(spec.entity_type)
        self.consumed = frozenset(key for codec in spec.codecs for key in codec.keys) | {"id"}
        self.codec_of_key = {key: codec for codec in spec.codecs for key in codec.keys}
        produced = {field for codec in spec.codecs for field in codec.fields}
        unknown = produced - set(self.model.model_fields)
        if unknown:
            raise ValueError(f"{spec.entity_type}: codecs fill unknown canonical fields {sorted(unknown)}")
        self.to_canonical, self.from_canonical = self._generate(fast=True)

    def reference(self) -> tuple[ToCanonical, FromCanonical]:
        """The two functions without inline fast paths: every field through its codec's method."""
        return self._generate(fast=False)

    def _generate(self, *, fast: bool) -> tuple[ToCanonical, FromCanonical]:
        entity = self.spec.entity_type
        names = {f"c{i}": codec for i, codec in enumerate(self.spec.codecs)}
        template: dict[str, Any] = dict.fromkeys(self.model.model_fields)
        template["object"] = entity
        integer_ids = self.id_kind is int
        reads = [_or(codec.read_fast(name) if fast else None, slow_read(name)) for name, codec in names.items()]
        writes = [_or(codec.write_fast(name) if fast else None, slow_write(name)) for name, codec in names.items()]
        fill = {"label": f"{self.platform}_{entity}", "platform": self.platform, "entity": entity}
        # Copying the record and dropping the mapped keys is twice as fast as filtering
        # every key through a set, and keeps the record's key order.
        drop = [f"metadata.pop({key!r}, None)" for key in sorted(self.consumed)]
        to_source = _TO_CANONICAL.format(
            **fill,
            body=_indent(reads),
            drop_consumed=_indent([drop]),
            own_id_check=("type(v) is int" if integer_ids else "type(v) is str and v") if fast else "False",
            own_id_text="str(v)" if integer_ids else "v",
        )
        from_source = _FROM_CANONICAL.format(
            **fill,
            body=_indent(writes),
            own_id_native="int(n) if n.isdecimal() else n" if integer_ids else "n",
        )
        namespace = {
            **_GENERATED_GLOBALS,
            **names,
            "_template": template,
            "_model": self.model,
            "_fields_set": self.model._fields_set,
            "_id_kind": self.id_kind,
            "_own_id": _own_id,
            "_merge_metadata": _merge_metadata,
            "_compiled": self,
        }
        suffix = "" if fast else "_reference"
        return (
            _define(f"to_canonical_{fill['label']}", to_source, namespace, suffix),
            _define(f"from_canonical_{fill['label']}", from_source, namespace, suffix),
        )


def _or(fast: list[str] | None, slow: str) -> list[str]:
    # An empty list is valid inline source (nothing to do); only None means "no fast path".
    return [slow] if fast is None else fast


def _indent(bodies: list[list[str]]) -> str:
    return "\n".join(f"    {line}" for body in bodies for line in body)


def _define(name: str, source: str, namespace: dict[str, Any], suffix: str) -> Any:
    filename = f"<generated {name}{suffix}>"
    exec(compile(source, filename, "exec"), namespace)
    # Registered so tracebacks through generated code show its lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace[name]


class Mapper(Protocol):
    """What the rest of the product calls: one per platform, see ``platforms.get_mapper``."""

    platform: str

    def to_canonical(
        self, entity_type: str, native: Mapping[str, Any], *, customer_id: str, context: MappingContext
    ) -> CanonicalModel: ...

    def from_canonical(
        self, entity_type: str, canonical: CanonicalModel, *, context: MappingContext
    ) -> dict[str, Any]: ...


class TableMapper:
    """Maps every entity type of one platform by its ``EntitySpec`` table."""

    def __init__(self, platform: str, specs: Iterable[EntitySpec], *, id_kind: type = str) -> None:
        self.platform = platform
        self._compiled = {spec.entity_type: _Compiled(platform, spec, id_kind) for spec in specs}

    @property
    def specs(self) -> dict[str, EntitySpec]:
        return {entity: compiled.spec for entity, compiled in self._compiled.items()}

    def _compiled_for(self, entity_type: str) -> _Compiled:
        compiled = self._compiled.get(entity_type)
        if compiled is None:
            raise RequestShapeError(f"unknown entity type {entity_type!r} for {self.platform}")
        return compiled

    def to_canonical(
        self, entity_type: str, native: Mapping[str, Any], *, customer_id: str, context: MappingContext
    ) -> CanonicalModel:
        """The canonical model of a native record of ``entity_type``."""
        compiled = self._compiled.get(entity_type) or self._compiled_for(entity_type)
        if type(native) is not dict and not isinstance(native, Mapping):
            raise TransformError(f"expected a {self.platform} {entity_type} object", "data")
        return compiled.to_canonical(native, context, customer_id)

    def from_canonical(self, entity_type: str, canonical: CanonicalModel, *, context: MappingContext) -> dict[str, Any]:
        """The native record (GET shape) of a canonical model of ``entity_type``."""
        compiled = self._compiled.get(entity_type) or self._compiled_for(entity_type)
        if not isinstance(canonical, compiled.model):
            raise TransformError(f"expected a canonical {entity_type}, got {type(canonical).__name__}", "canonical")
        return compiled.from_canonical(canonical, context)


def require_commitment_type(record_type: Any, context: MappingContext, path: str) -> str:
    """The Procore commitment type of a contract: the record's ``type``, else the context's."""
    commitment_type = record_type or context.commitment_type
    if commitment_type is None:
        raise TransformError(
            "a Procore contract needs its commitment type: pass context.commitmentType "
            f"({' or '.join(COMMITMENT_TYPES)}) or include `type` in the record",
            "context.commitmentType",
        )
    if commitment_type not in COMMITMENT_TYPES:
        raise TransformError(f"unknown commitment type {commitment_type!r}", path)
    return str(commitment_type)
