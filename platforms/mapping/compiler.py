"""Compiles an ``EntitySpec`` into two straight-line Python functions (``Compiled``).

This is the sync hot path: each entity table becomes one generated function per
direction (the technique ``dataclasses`` uses for ``__init__``). A record in the
platform's standard form runs as inline code, with no per-field calls; anything else
is handed to the codec's method. Models are built without validation
(``canonical.construct``) and references are recorded as plain tuples.

Codec source may use these locals: ``record``, ``get``, ``raw``, ``context``,
``customer_id``, ``platform``, ``links`` (``context.id_map.canonical_ids()``),
``rows`` (``context.rows``) and ``data`` when reading; ``values``, ``metadata``,
``context``, ``platform``, ``natives`` (``context.id_map.native_ids()``), ``rows`` and
``out`` when writing; the globals in ``_GENERATED_GLOBALS``; its own codec by the
name it is given; and whatever its ``read_locals``/``write_locals`` declare. Scratch
names (``v``, ``n``, ``c``, ``t``, ...) are free to reuse: each field's source runs to
completion before the next.

``python -m platforms.mapping.show <platform> <entity type>`` prints the generated code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import linecache
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import orjson

from canonical import construct
from canonical.errors import MoneyError, TransformError
from canonical.ids import canonical_id, derive_id
from canonical.models import CanonicalModel, model_for
from canonical.money import EXPONENTS, Money, parse_text_amount, to_minor
from platforms.mapping.codecs import Codec, slow_read, slow_write, text_of
from platforms.mapping.context import MappingContext
from platforms.mapping.state import Reader, Writer, link

if TYPE_CHECKING:  # mapper.py builds Compiled objects, so it imports this module
    from platforms.mapping.mapper import EntitySpec

RAW_KEY: Final = "$raw"

ToCanonical = Callable[[Mapping[str, Any], MappingContext, str], CanonicalModel]
FromCanonical = Callable[[CanonicalModel, MappingContext], dict[str, Any]]

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
    "_derive_id": derive_id,
    "_Reader": Reader,
    "_Writer": Writer,
    "_EMPTY": {},
}

# The generated functions (see the module docstring for the locals codec source may use).
# ``{locals}`` is the codecs' extra locals, one line each.
_TO_CANONICAL: Final = """\
def to_canonical_{label}(record, context, customer_id):
    platform = {platform!r}
    raw = {{}}
    get = record.get
    links = context.id_map.canonical_ids()
    rows = context.rows
{locals}    data = _template.copy()
{body}
    # id <- id (the record's own: derived, or the id map's link)
    v = get("id")
    if {own_id_check}:
        n = {own_id_text}
        cid = links.get((platform, {entity!r}, n))
        if cid is None:
            cid = context.id_map.add_derived(platform, {entity!r}, n, _derive_id({entity!r}, customer_id, platform, n))
        data["id"] = cid
        data["external_ids"] = {{platform: n}}
    else:
        _own_id(record, _Reader(platform, customer_id, context, raw), data, {entity!r}, _id_kind)
    # provider_metadata <- every other key, and the original of mapped values in $raw
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
    natives = context.id_map.native_ids()
    rows = context.rows
{locals}    out = {{}}
    # id -> id (the record's own: its external id, else the id map's link)
    n = values["external_ids"].get(platform) or natives.get((platform, {entity!r}, values["id"]))
    if n is not None:
        out["id"] = {own_id_native}
{body}
    # provider_metadata -> the unmapped keys, and the original of values still equal to it
    if metadata:
        _merge_metadata(_compiled, out, _Writer(platform, context, values, metadata))
    return out
"""

# The names the templates bind themselves; a codec's extra locals must not shadow them.
_TEMPLATE_LOCALS: Final = frozenset(
    {"record", "context", "customer_id", "platform", "raw", "get", "links", "rows", "data", "metadata", "model"}
    | {"canonical", "values", "natives", "out", "v", "n", "cid"}
)


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
    native_id = text_of(native_id, "data.id")
    data["id"] = link(
        reader.context, reader.platform, reader.customer_id, entity_type, native_id, "id", "id", record=False
    )
    data["external_ids"] = {reader.platform: native_id}


def _merge_metadata(compiled: Compiled, out: dict[str, Any], writer: Writer) -> None:
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
    if "id" in raw and "id" in out and text_of(raw["id"], "data.id") == str(out["id"]):
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


class Compiled:
    """An EntitySpec compiled into one function per direction.

    The functions are generated from the codecs' inline source: a record in the
    platform's standard form runs as straight-line code, with no per-field calls;
    anything else is handed to the codec's method. ``reference()`` builds the same
    functions from the methods alone, which the tests compare against; ``source()``
    gives the generated text of either.
    """

    __slots__ = (
        "codec_of_key",
        "codecs",
        "consumed",
        "from_canonical",
        "id_kind",
        "model",
        "platform",
        "spec",
        "to_canonical",
    )

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
        self.codecs = _codec_names(spec.codecs)
        self.to_canonical, self.from_canonical = self._define(fast=True)

    def reference(self) -> tuple[ToCanonical, FromCanonical]:
        """The two functions without inline fast paths: every field through its codec's method."""
        return self._define(fast=False)

    def source(self, *, fast: bool = True) -> tuple[str, str]:
        """The generated source of ``(to_canonical, from_canonical)``; ``fast=False``: of ``reference()``."""
        entity = self.spec.entity_type
        names = self.codecs
        integer_ids = self.id_kind is int
        fill = {"label": f"{self.platform}_{entity}", "platform": self.platform, "entity": entity}
        reads = [
            [
                f"# {', '.join(codec.fields)} <- {codec.native_label()}",
                *_or(codec.read_fast(name) if fast else None, slow_read(name)),
            ]
            for name, codec in names.items()
        ]
        writes = [
            [
                f"# {', '.join(codec.fields)} -> {codec.native_label()}",
                *_or(codec.write_fast(name) if fast else None, slow_write(name)),
            ]
            for name, codec in names.items()
        ]
        # Copying the record and dropping the mapped keys is twice as fast as filtering
        # every key through a set, and keeps the record's key order.
        drop = [f"metadata.pop({key!r}, None)" for key in sorted(self.consumed)]
        to_source = _TO_CANONICAL.format(
            **fill,
            locals=_locals([codec.read_locals() for codec in names.values()] if fast else []),
            body=_indent(reads),
            drop_consumed=_indent([drop]),
            own_id_check=("type(v) is int" if integer_ids else "type(v) is str and v") if fast else "False",
            own_id_text="str(v)" if integer_ids else "v",
        )
        from_source = _FROM_CANONICAL.format(
            **fill,
            locals=_locals([codec.write_locals() for codec in names.values()] if fast else []),
            body=_indent(writes),
            own_id_native="int(n) if n.isdecimal() else n" if integer_ids else "n",
        )
        return to_source, from_source

    def _define(self, *, fast: bool) -> tuple[ToCanonical, FromCanonical]:
        label = f"{self.platform}_{self.spec.entity_type}"
        template: dict[str, Any] = dict.fromkeys(self.model.model_fields)
        template["object"] = self.spec.entity_type
        namespace = {
            **_GENERATED_GLOBALS,
            **self.codecs,
            "_template": template,
            "_model": self.model,
            "_fields_set": self.model._fields_set,
            "_id_kind": self.id_kind,
            "_own_id": _own_id,
            "_merge_metadata": _merge_metadata,
            "_compiled": self,
        }
        to_source, from_source = self.source(fast=fast)
        suffix = "" if fast else "_reference"
        return (
            _exec(f"to_canonical_{label}", to_source, namespace, suffix),
            _exec(f"from_canonical_{label}", from_source, namespace, suffix),
        )


def _codec_names(codecs: tuple[Codec, ...]) -> dict[str, Codec]:
    # Named after their field so the generated code reads ``amount_codec.currency_of(...)``;
    # a field is filled by one codec, but a spec could still repeat one, so keep them unique.
    names: dict[str, Codec] = {}
    for codec in codecs:
        name = f"{codec.field}_codec"
        suffix = 2
        while name in names:
            name = f"{codec.field}_codec_{suffix}"
            suffix += 1
        names[name] = codec
    return names


def _locals(declared: list[Mapping[str, str]]) -> str:
    bound: dict[str, str] = {}
    for extra in declared:
        for name, expression in extra.items():
            if name in _TEMPLATE_LOCALS or bound.get(name, expression) != expression:
                raise ValueError(f"codec local {name!r} = {expression!r} clashes with another local")
            bound[name] = expression
    return "".join(f"    {name} = {expression}\n" for name, expression in bound.items())


def _or(fast: list[str] | None, slow: str) -> list[str]:
    # An empty list is valid inline source (nothing to do); only None means "no fast path".
    return [slow] if fast is None else fast


def _indent(bodies: list[list[str]]) -> str:
    return "\n".join(f"    {line}" for body in bodies for line in body)


def _exec(name: str, source: str, namespace: dict[str, Any], suffix: str) -> Any:
    filename = f"<generated {name}{suffix}>"
    exec(compile(source, filename, "exec"), namespace)
    # Registered so tracebacks through generated code show its lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace[name]
