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
straight-line Python functions (see ``compiler.Compiled``), models are built without
validation (``canonical.construct``), and references are recorded as plain tuples.
``python -m platforms.mapping.show procore contract`` prints the generated code.

Parts: ``context`` (IdMap, Reference, MappingContext), ``state`` (the per-record
Reader, Writer and ``link``), ``codecs`` (one class per kind of field), ``compiler``
(the code generator) and ``mapper`` (EntitySpec, Mapper, TableMapper). Platform rules
live with the platform (``platforms.procore.mapping``, ``platforms.dynamics.mapping``);
platform-specific context travels in ``MappingContext.options``.

A canonical ``None`` is "not known" and is not written (writers send only what they
know), so clearing a native field through the canonical model is not supported.
"""

from platforms.mapping.codecs import (
    Amount,
    Choice,
    Codec,
    Constant,
    CurrencyCode,
    CurrencyOf,
    Date,
    DecimalValue,
    NestedText,
    NumberRef,
    Ref,
    Text,
    WriteCurrency,
    slow_read,
    slow_write,
    text_of,
)
from platforms.mapping.compiler import RAW_KEY, Compiled, FromCanonical, ToCanonical
from platforms.mapping.context import Direction, IdMap, LinkKey, MappingContext, Reference, RefRow
from platforms.mapping.mapper import EntitySpec, Mapper, TableMapper
from platforms.mapping.state import Reader, Writer, link

__all__ = [
    "RAW_KEY",
    "Amount",
    "Choice",
    "Codec",
    "Compiled",
    "Constant",
    "CurrencyCode",
    "CurrencyOf",
    "Date",
    "DecimalValue",
    "Direction",
    "EntitySpec",
    "FromCanonical",
    "IdMap",
    "LinkKey",
    "Mapper",
    "MappingContext",
    "NestedText",
    "NumberRef",
    "Reader",
    "Ref",
    "RefRow",
    "Reference",
    "TableMapper",
    "Text",
    "ToCanonical",
    "WriteCurrency",
    "Writer",
    "link",
    "slow_read",
    "slow_write",
    "text_of",
]
