"""``EntitySpec`` tables, the ``Mapper`` protocol the product calls, and ``TableMapper``, which runs the tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from canonical.errors import RequestShapeError, TransformError
from canonical.models import CanonicalModel
from platforms.mapping.codecs import Codec
from platforms.mapping.compiler import Compiled
from platforms.mapping.context import MappingContext


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """How one entity type maps on one platform."""

    entity_type: str
    resource: str
    codecs: tuple[Codec, ...]
    notes: str = ""


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
        self._compiled = {spec.entity_type: Compiled(platform, spec, id_kind) for spec in specs}

    @property
    def specs(self) -> dict[str, EntitySpec]:
        return {entity: compiled.spec for entity, compiled in self._compiled.items()}

    def compiled(self, entity_type: str) -> Compiled:
        """The compiled table of ``entity_type`` (its generated functions and their source);
        RequestShapeError for an entity type this platform does not map."""
        compiled = self._compiled.get(entity_type)
        if compiled is None:
            raise RequestShapeError(f"unknown entity type {entity_type!r} for {self.platform}")
        return compiled

    def to_canonical(
        self, entity_type: str, native: Mapping[str, Any], *, customer_id: str, context: MappingContext
    ) -> CanonicalModel:
        """The canonical model of a native record of ``entity_type``."""
        # The dict lookup first: a method call per record is measurable here.
        compiled = self._compiled.get(entity_type) or self.compiled(entity_type)
        if type(native) is not dict and not isinstance(native, Mapping):
            raise TransformError(f"expected a {self.platform} {entity_type} object", "data")
        return compiled.to_canonical(native, context, customer_id)

    def from_canonical(self, entity_type: str, canonical: CanonicalModel, *, context: MappingContext) -> dict[str, Any]:
        """The native record (GET shape) of a canonical model of ``entity_type``."""
        compiled = self._compiled.get(entity_type) or self.compiled(entity_type)
        if not isinstance(canonical, compiled.model):
            raise TransformError(f"expected a canonical {entity_type}, got {type(canonical).__name__}", "canonical")
        return compiled.from_canonical(canonical, context)
