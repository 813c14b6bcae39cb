"""Platform adapters. This module is the registry of canonical mappers.

``get_mapper("procore")`` / ``get_mapper("dynamics")`` return a ``Mapper`` with
``to_canonical(entity_type, native, *, customer_id, context)`` and
``from_canonical(entity_type, canonical, *, context)``; see ``platforms.mapping``.
"""

from __future__ import annotations

from canonical.errors import RequestShapeError
from platforms.dynamics.mapping import MAPPER as _DYNAMICS
from platforms.mapping import PLATFORMS, IdMap, Mapper, MappingContext, Reference
from platforms.procore.mapping import MAPPER as _PROCORE

_MAPPERS: dict[str, Mapper] = {"procore": _PROCORE, "dynamics": _DYNAMICS}


def get_mapper(platform: str) -> Mapper:
    """The mapper of ``platform``; RequestShapeError (a ValueError) for an unknown platform."""
    try:
        return _MAPPERS[platform]
    except (KeyError, TypeError):
        raise RequestShapeError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}") from None


__all__ = ["PLATFORMS", "IdMap", "Mapper", "MappingContext", "Reference", "get_mapper"]
