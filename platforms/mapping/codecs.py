"""Codecs: each translates one native field (or a small group) to and from canonical fields.

A codec's ``read``/``write`` methods are the reference semantics. A codec may also
offer ``read_fast``/``write_fast``: source lines for the common case (a value already
in the platform's standard form), which ``platforms.mapping.compiler`` inlines into one
generated function per entity type, delegating every other case to the methods. The
names those lines may use are listed in the compiler's module docstring; a codec that
needs more (a table of the id map, a platform option) declares them in
``read_locals``/``write_locals``, bound once per generated call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from canonical.errors import MoneyError, TransformError
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
from platforms.mapping.context import MappingContext
from platforms.mapping.state import Reader, Writer


def slow_read(name: str) -> str:
    """Source calling codec ``name``'s ``read`` (its state objects are built only when needed)."""
    return f"{name}.read(record, _Reader(platform, customer_id, context, raw), data)"


def slow_write(name: str) -> str:
    """Source calling codec ``name``'s ``write``."""
    return f"{name}.write(_Writer(platform, context, values, metadata), out)"


def text_of(value: Any, path: str) -> str:
    """A native id or number as text (``TransformError`` at ``path`` for anything else)."""
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

    # Locals beyond the compiler's standard ones, bound once at the top of the generated
    # function rather than looked up per field: local name -> expression over ``context``.
    # Codecs asking for the same name must ask for the same expression.

    def read_locals(self) -> Mapping[str, str]:
        """The extra locals ``read_fast``'s source uses."""
        return {}

    def write_locals(self) -> Mapping[str, str]:
        """The extra locals ``write_fast``'s source uses."""
        return {}

    def native_label(self) -> str:
        """The native side in the generated code's comments: ``grand_total``, ``project.id``."""
        return ", ".join(self.keys)

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

    def vocabularies(self) -> Mapping[str, Choice]:
        """The closed vocabularies the codec maps (by variant, "" for the only one), for the docs."""
        return {}

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
            data[self.field] = text_of(value, self.path)

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
        data[self.field] = None if value is None else text_of(value, f"{self.path}.{self.sub}")

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

    def native_label(self) -> str:
        return f"{self.key}.{self.sub}"


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

    def native_label(self) -> str:
        return f"(always {self.value!r})"


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

    def vocabularies(self) -> Mapping[str, Choice]:
        return {"": self}

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
        native_id = text_of(native, f"data.{self.label}")
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
        return text_of(native, self.path) == text_of(written, self.path)

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

    def native_label(self) -> str:
        return self.label


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
            number = text_of(number, self.path)
            cid = reader.context.id_map.canonical_id_by_number(reader.platform, self.entity_type, number)
            if cid is None:
                reason = f"no {self.entity_type} with number {number!r} known in context"
                reader.unresolved(self.entity_type, self.field, self.key, number, reason)
        data[self.field] = cid
        data[self.number_field] = number

    def write(self, writer: Writer, out: dict[str, Any]) -> None:
        cid = writer.values[self.field]
        number = None
        if cid is not None:
            number = writer.context.id_map.number(writer.platform, self.entity_type, cid)
        if number is None:
            number = writer.values[self.number_field]
        if cid is not None:
            reason = None if number is not None else f"no {writer.platform} number known for {self.entity_type} {cid}"
            writer.context.rows.append(
                ("from_canonical", writer.platform, self.field, self.key, self.entity_type, cid, number, reason)
            )
        if number is not None:
            out[self.key] = number

    def read_locals(self) -> Mapping[str, str]:
        return {"by_number": "context.id_map.canonical_ids_by_number()"}

    def write_locals(self) -> Mapping[str, str]:
        return {"numbers": "context.id_map.numbers()"}

    def read_fast(self, name: str) -> list[str] | None:
        # The common case: a number the id map knows (no reference row: only unresolved ones are).
        return [
            f"v = get({self.key!r})",
            f"cid = by_number.get((platform, {self.entity_type!r}, v)) if type(v) is str and v else None",
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
            f"n = numbers.get((platform, {self.entity_type!r}, v)) if v is not None else None",
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
