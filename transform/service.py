"""``POST /api/v1/transform``: translate one native record to another platform, statelessly.

``translate(source, target, entity_type, data, context, request_id=..., now=...)``
maps ``data`` (a ``source``-native record) to canonical and on to ``target``'s native
shape. No database, no I/O: the id links it needs come in ``context``.
``source == target`` is allowed and round-trips the record through canonical.

Context (all keys optional, camelCase as in the API):

``commitmentType``
    ``WorkOrderContract`` | ``PurchaseOrderContract``. Required for Procore contracts
    whose record has no ``type`` (on either side); missing -> 422 naming
    ``context.commitmentType``.
``currency``
    The customer's local (Business Central) currency, e.g. ``QAR``. Used to read BC
    records that carry no currency (customer payments, blank ``currencyCode``) and as
    the currency BC amounts are written in.
``targetCurrency``
    Write every amount in this currency, converting at the pegged rates
    (1 USD = 3.64 QAR = 3.6725 AED = 3.75 SAR, half-even to the minor unit).
``customerId``
    Namespace of the canonical ids in the response (default ``"transform"``), so the
    ids match those the caller's tenant sees elsewhere.
``references``
    Links for translating references between the two platforms, by entity type:
    source native id -> target native id, e.g.
    ``{"contract": {"1945782": "7a1b2c3d-…"}, "project": {"341276": {"id": "5f6b…", "number": "LBT-2401"}}}``.
    A target may be an id or ``{"id", "number"}``; give ``number`` when the target
    references that entity by business number (BC documents reference their project
    by job number in ``shortcutDimension1Code``). When the source references by
    number, key the entry by that number (``{"project": {"LBT-2401": "341276"}}``).

Response ``metadata.references``: ``resolved`` lists the references written into the
target record, with the target ids; ``unresolved`` lists those that could not be
translated (target field left out) with a reason.

Serialise the result with ``dumps`` (``canonical.jsonio``): BC amounts are ``Decimal``
and become JSON numbers with exactly their digits.

Errors: ``RequestShapeError`` (a ``ValueError``; HTTP 400) for an unknown platform or
entity type, ``data`` that is not an object, or a malformed ``context``;
``TransformError`` (HTTP 422) when the record cannot be translated, with ``path``
pointing at the culprit (``data.amount``, ``context.commitmentType``...).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import orjson

from canonical.encoding import canonical_json
from canonical.errors import RequestShapeError, TransformError
from canonical.ids import ENTITY_TYPES, canonical_id
from canonical.jsonio import dumps
from canonical.models import CANONICAL_VERSION, CanonicalModel
from platforms import IdMap, MappingContext, get_mapper
from platforms.registry import get_platform, is_platform, names, platforms

__all__ = ["DEFAULT_CUSTOMER_ID", "RequestShapeError", "TransformError", "Translation", "dumps", "translate"]

DEFAULT_CUSTOMER_ID: Final = "transform"
# The keys every translation reads; platforms add their own (``Platform.transform_context``).
_CONTEXT_KEYS: Final = ("currency", "targetCurrency", "customerId", "references")


@dataclass(frozen=True, slots=True)
class Translation:
    """One translated record: the canonical model, the target-native record and the metadata."""

    canonical: CanonicalModel
    data: dict[str, Any]
    metadata: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """``{"canonical", "data", "metadata"}``, the canonical record as plain JSON values."""
        return {"canonical": self.canonical.model_dump(mode="json"), "data": self.data, "metadata": self.metadata}

    def as_json(self) -> bytes:
        """``dumps(self.as_dict())``, with the canonical record serialised by ``canonical_json``
        (the same bytes, without pydantic's per-field serialiser: the HTTP response's hot path)."""
        canonical = orjson.Fragment(canonical_json(self.canonical))
        return dumps({"canonical": canonical, "data": self.data, "metadata": self.metadata})


def translate(
    source: str,
    target: str,
    entity_type: str,
    data: Any,
    context: Any,
    *,
    request_id: str,
    now: dt.datetime,
) -> Translation:
    """Translate one record; see the module docstring."""
    for name, platform in (("source", source), ("target", target)):
        if not is_platform(platform):
            raise RequestShapeError(f"{name} must be one of {', '.join(names())}, got {platform!r}")
    if entity_type not in ENTITY_TYPES:
        raise RequestShapeError(f"entity_type must be one of {', '.join(ENTITY_TYPES)}, got {entity_type!r}")
    if not isinstance(data, Mapping):
        raise RequestShapeError("data must be an object")
    mapping_context, customer_id = _mapping_context(context, source, target)
    canonical = get_mapper(source).to_canonical(entity_type, data, customer_id=customer_id, context=mapping_context)
    native = get_mapper(target).from_canonical(entity_type, canonical, context=mapping_context)
    metadata = {
        "source": source,
        "target": target,
        "entity_type": entity_type,
        "canonical_version": CANONICAL_VERSION,
        "transformed_at": format_timestamp(now),
        "request_id": request_id,
        "references": {
            "resolved": [ref.as_dict() for ref in mapping_context.resolved("from_canonical")],
            "unresolved": [ref.as_dict() for ref in mapping_context.unresolved()],
        },
    }
    return Translation(canonical, native, metadata)


def format_timestamp(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds, ``2026-04-11T12:00:00.000Z``; naive datetimes are taken as UTC."""
    utc = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _mapping_context(context: Any, source: str, target: str) -> tuple[MappingContext, str]:
    if context is None:
        return MappingContext(), DEFAULT_CUSTOMER_ID
    if not isinstance(context, Mapping):
        raise RequestShapeError("context must be an object")
    known = (*_CONTEXT_KEYS, *(key for platform in platforms() for key in platform.transform_context))
    unknown = sorted(set(context) - set(known))
    if unknown:
        raise RequestShapeError(f"unknown context keys {unknown}; expected any of {', '.join(known)}")
    customer_id = _optional_text(context, "customerId") or DEFAULT_CUSTOMER_ID
    id_map = IdMap()
    references = context.get("references")
    if references is not None:
        _add_references(id_map, references, customer_id, source, target)
    # Every key's shape is checked before any value (a malformed key is a 400 before a bad value's 422).
    read = partial(_optional_text, context)
    for platform in platforms():
        for key in platform.transform_context:
            read(key)
    currency = read("currency")
    target_currency = read("targetCurrency")
    options: dict[str, Any] = {}
    for name in dict.fromkeys((source, target)):
        options.update(get_platform(name).transform_options(read))
    mapping_context = MappingContext(
        options=options,
        currency=currency,
        target_currency=target_currency,
        id_map=id_map,
    )
    return mapping_context, customer_id


def _optional_text(context: Mapping[str, Any], key: str) -> str | None:
    value = context.get(key)
    if value is not None and not isinstance(value, str):
        raise RequestShapeError(f"context.{key} must be a string")
    return value or None


def _native_id(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise RequestShapeError(f"{path} must be a non-empty string or integer")
    return str(value)


def _add_references(id_map: IdMap, references: Any, customer_id: str, source: str, target: str) -> None:
    if not isinstance(references, Mapping):
        raise RequestShapeError("context.references must be an object keyed by entity type")
    for entity_type, pairs in references.items():
        path = f"context.references.{entity_type}"
        if entity_type not in ENTITY_TYPES:
            raise RequestShapeError(f"{path}: unknown entity type")
        if not isinstance(pairs, Mapping):
            raise RequestShapeError(f"{path} must be an object of source id -> target id")
        for source_id, target_ref in pairs.items():
            source_id = _native_id(source_id, path)
            # The canonical id the source record's reference will get, linked to both sides.
            # The key doubles as a number, for sources that reference by number.
            cid = canonical_id(entity_type, customer_id, source, source_id)
            id_map.add(source, entity_type, cid, source_id, number=source_id)
            item_path = f"{path}.{source_id}"
            if isinstance(target_ref, Mapping):
                target_id = target_ref.get("id")
                number = target_ref.get("number")
                if number is not None and not isinstance(number, str):
                    raise RequestShapeError(f"{item_path}.number must be a string")
                id_map.add(
                    target,
                    entity_type,
                    cid,
                    None if target_id is None else _native_id(target_id, f"{item_path}.id"),
                    number=number,
                )
            else:
                id_map.add(target, entity_type, cid, _native_id(target_ref, item_path))
