"""Prints the Python the mapping compiler generates for one platform's entity type.

    python -m platforms.mapping.show procore contract
    python -m platforms.mapping.show dynamics invoice --reference

Both functions are printed, ``to_canonical_<platform>_<entity>`` then
``from_canonical_<platform>_<entity>``; ``--reference`` prints the variant without
inline fast paths (every field through its codec's method), which the property tests
compare the fast one against. Exit status 2 for an unknown platform or entity type.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from canonical.errors import RequestShapeError
from platforms.mapping.mapper import TableMapper


def render(platform: str, entity_type: str, *, reference: bool = False) -> str:
    """The generated source of both functions; RequestShapeError for an unknown platform or entity type."""
    # The one place this command knows how platforms are found: the registry's lookup.
    from platforms import get_mapper

    mapper = get_mapper(platform)
    if not isinstance(mapper, TableMapper):
        raise RequestShapeError(f"the {platform} mapper is not table-driven: it has no generated code")
    to_source, from_source = mapper.compiled(entity_type).source(fast=not reference)
    return f"{to_source}\n\n{from_source}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platforms.mapping.show", description=__doc__.splitlines()[0])
    parser.add_argument("platform", help="a registered platform (platforms.registry)")
    parser.add_argument("entity_type", help="a canonical entity type, e.g. contract")
    parser.add_argument("--reference", action="store_true", help="the variant without inline fast paths")
    args = parser.parse_args(argv)
    try:
        source = render(args.platform, args.entity_type, reference=args.reference)
    except RequestShapeError as error:
        print(error, file=sys.stderr)
        return 2
    sys.stdout.write(source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
