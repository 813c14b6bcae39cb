"""Per-record state handed to the codecs' reference methods: ``Reader``, ``Writer`` and ``link``.

The generated fast paths do not build these (see ``platforms.mapping.compiler``); they
are made only when a field needs its codec's method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canonical.ids import canonical_id, derive_id
from platforms.mapping.context import MappingContext


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
    reference to ``context.rows``; a record's own id (``record=False``) is derived
    without the memo, which only pays off for ids met more than once.
    """
    id_map = context.id_map
    cid = id_map.canonical_ids().get((platform, entity_type, native_id))
    if cid is None:
        cid = (canonical_id if record else derive_id)(entity_type, customer_id, platform, native_id)
        id_map.add(platform, entity_type, cid, native_id)
    if record:
        context.rows.append(("to_canonical", platform, field, native_field, entity_type, cid, native_id, None))
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
            self.context.rows.append(
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
        native_id = self.context.id_map.native_id(self.platform, entity_type, cid)
        reason = None if native_id is not None else f"no {self.platform} id known for {entity_type} {cid}"
        self.context.rows.append(
            ("from_canonical", self.platform, field, native_field, entity_type, cid, native_id, reason)
        )
        return native_id
