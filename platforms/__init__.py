"""Platform adapters: one package per platform (``platforms/<name>/``) and what they share.

``platforms.registry`` lists the platforms; each package exports a ``Platform`` descriptor
(``platforms.descriptor``). ``get_mapper(name)`` is the descriptor's mapper, with
``to_canonical(entity_type, native, *, customer_id, context)`` and
``from_canonical(entity_type, canonical, *, context)``; see ``platforms.mapping``.
"""

from __future__ import annotations

from platforms.mapping import IdMap, Mapper, MappingContext, Reference


def get_mapper(platform: str) -> Mapper:
    """The mapper of ``platform``; RequestShapeError (a ValueError) for an unknown platform."""
    from platforms.registry import get_platform

    return get_platform(platform).mapper


__all__ = ["IdMap", "Mapper", "MappingContext", "Reference", "get_mapper"]
