"""Canonical models as JSON bytes, without pydantic's serialiser on the hot path.

``canonical_json(model)`` is byte for byte ``dumps(model.model_dump(mode="json"))``
(``canonical.jsonio.dumps``), several times faster: pydantic walks every field in its
serialiser (5-10 µs a record), while the values held by a canonical model are already
JSON types orjson writes natively, apart from ``Money`` (its two fields), ``Decimal``
hours (a string, never a binary float) and native ``Decimal`` numbers kept in provider
metadata (JSON numbers, see ``CanonicalModel._serialise_provider_metadata``). Anything
else falls back to pydantic, so the output never differs.

Used wherever a record is written out in bulk or per request: the connect seed's COPY
stream and ``POST /transform``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

from canonical.jsonio import dumps
from canonical.models import MODELS, CanonicalModel, json_number
from canonical.money import Money

# Provider metadata is the last field of every model: it is serialised after the others with
# its own number rule, and the result spliced in, so the field order stays the model's.
assert all(list(model.model_fields)[-1] == "provider_metadata" for model in MODELS.values())


def _field_default(value: Any) -> Any:
    if type(value) is Money:  # {"amount": int, "currency": str}, exactly its fields
        return value.__dict__
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):  # hours
        return str(value)
    raise TypeError


def _metadata_default(value: Any) -> Any:
    # What CanonicalModel's provider_metadata serialiser makes of native Decimals.
    if isinstance(value, Decimal):
        return json_number(value)
    raise TypeError


def canonical_json(canonical: CanonicalModel, *, external_ids: bool = True) -> bytes:
    """``dumps(canonical.model_dump(mode="json"))`` (without ``external_ids`` if asked)."""
    values = canonical.__dict__.copy()
    try:
        if not external_ids:
            del values["external_ids"]
        metadata = values.pop("provider_metadata")
        head = orjson.dumps(values, default=_field_default)
        return head[:-1] + b',"provider_metadata":' + orjson.dumps(metadata, default=_metadata_default) + b"}"
    except (KeyError, TypeError, orjson.JSONEncodeError):
        # Values orjson refuses (integers beyond 64 bits in metadata...): pydantic's path.
        exclude = None if external_ids else {"external_ids"}
        return dumps(canonical.model_dump(mode="json", exclude=exclude))
