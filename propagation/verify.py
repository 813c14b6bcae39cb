"""Drift: how a platform's record differs from canonical, field by field. Pure.

Canonical's values are first rendered the way the platform would hold them (its currency, its ids,
what it can represent), then read back, and compared with the platform record read the same way: a
BC amount in the customer's currency, or a field the platform implies (a BC payment is always
``pending``), is not drift. What remains is a value the platform holds that canonical does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platforms import get_mapper
from platforms.mapping import IdMap
from platforms.mapping.codecs import Constant
from propagation.logic import NOT_PROPAGATED, render_for_target, render_view


@dataclass(frozen=True)
class FieldDrift:
    field: str
    canonical: Any  # canonical's value
    platform: Any  # the platform record's value, read as canonical


def compared_fields(platform: str, entity_type: str) -> tuple[str, ...]:
    """The canonical fields the platform's record states (not implied constants, not ids)."""
    spec = get_mapper(platform).specs[entity_type]  # type: ignore[attr-defined]
    return tuple(
        dict.fromkeys(
            f for codec in spec.codecs if not isinstance(codec, Constant) for f in codec.fields if f not in NOT_PROPAGATED
        )
    )


def drift(
    platform: str,
    entity_type: str,
    record: Mapping[str, Any],
    canonical: Mapping[str, Any],
    *,
    customer_id: str,
    id_map: IdMap,
) -> list[FieldDrift]:
    """The fields on which ``record`` (the platform's, as read now) differs from ``canonical``."""
    fields = compared_fields(platform, entity_type)
    _, intended, _ = render_for_target(
        platform, entity_type, record, canonical, fields, customer_id=customer_id, id_map=id_map
    )
    actual = render_view(platform, entity_type, record, customer_id, id_map)
    return [FieldDrift(f, canonical.get(f), actual.get(f)) for f in fields if intended.get(f) != actual.get(f)]
