"""Generates the entity tables of ``docs/canonical-model.md`` from the models and mapping tables.

Run ``python -m transform.docs`` after changing a model or a mapping table;
``python -m transform.docs --check`` exits 1 when the document is out of date (the
tests run the same check). Only the part between the two markers is generated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Final, get_args

from canonical.models import FIELDS, MODELS
from platforms import get_mapper
from platforms.mapping import Codec, EntitySpec
from platforms.registry import platforms

DOCUMENT: Final = Path(__file__).resolve().parent.parent / "docs" / "canonical-model.md"
BEGIN: Final = "<!-- BEGIN GENERATED: python -m transform.docs -->"
END: Final = "<!-- END GENERATED -->"
# The built-in platforms (the document describes what ships).
PLATFORM_NAMES: Final = {platform.name: platform.title for platform in platforms()}
_COMMON: Final = {
    "id": "Canonical id, derived from the platform and native id the record was first read with.",
    "object": "Entity type.",
}


def _native(spec: EntitySpec, field: str) -> str:
    if field == "id":
        return "`id`"
    if field in ("external_ids", "provider_metadata"):
        return "(all)"
    for codec in spec.codecs:
        if field in codec.fields:
            return codec.describe(field) if not _is_status(codec) else f"`{codec.key}` (see statuses)"
    return "—"


def _is_status(codec: Codec) -> bool:
    return bool(codec.vocabularies())


def _entity_section(entity_type: str) -> list[str]:
    specs = {platform: get_mapper(platform).specs[entity_type] for platform in PLATFORM_NAMES}  # type: ignore[attr-defined]
    title = entity_type.replace("_", " ")
    lines = [
        f"### {title}",
        "",
        f"{MODELS[entity_type].__doc__}",
        "",
        "| field | type | description | "
        + " | ".join(f"{name} (`{specs[p].resource}`)" for p, name in PLATFORM_NAMES.items())
        + " |",
        "|---|---|---|---|---|",
    ]
    for doc in FIELDS[entity_type]:
        description = doc.description or _COMMON.get(doc.name, "")
        cells = [f"`{doc.name}`", doc.type, description, *(_native(specs[p], doc.name) for p in PLATFORM_NAMES)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for platform, name in PLATFORM_NAMES.items():
        if specs[platform].notes:
            lines.append(f"- {name}: {specs[platform].notes}")
    lines += ["", *_status_tables(entity_type, specs), ""]
    return lines


def _status_tables(entity_type: str, specs: dict[str, EntitySpec]) -> list[str]:
    lines: list[str] = []
    for platform, name in PLATFORM_NAMES.items():
        for codec in specs[platform].codecs:
            for variant, choice in codec.vocabularies().items():
                label = f"{name} `{choice.key}`" + (f" ({variant})" if variant else "")
                lines += [
                    f"{label} → canonical `{choice.field}`; a changed value is written as shown, an unchanged "
                    "one keeps its original:",
                    "",
                ]
                lines += ["| native | canonical | written as |", "|---|---|---|"]
                for native, canonical in choice.read_table.items():
                    lines.append(f"| `{_json(native)}` | `{canonical}` | `{_json(choice.write_table[canonical])}` |")
                extra = sorted(set(choice.write_table) - set(choice.read_table.values()))
                for canonical in extra:
                    lines.append(f"| — | `{canonical}` | `{_json(choice.write_table[canonical])}` |")
                missing = sorted(set(_vocabulary(entity_type, choice.field)) - set(choice.write_table))
                if missing:
                    lines.append(f"| — | {', '.join(f'`{m}`' for m in missing)} | TransformError (no equivalent) |")
                lines.append("")
    return lines


def _json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _vocabulary(entity_type: str, field: str) -> tuple[str, ...]:
    annotation = MODELS[entity_type].model_fields[field].annotation
    literal = next(arg for arg in get_args(annotation) if arg is not type(None))
    return tuple(get_args(literal))


def render() -> str:
    """The generated section, markers included."""
    lines = [BEGIN, ""]
    for entity_type in MODELS:
        lines += _entity_section(entity_type)
    lines.append(END)
    return "\n".join(lines)


def updated(document: str) -> str:
    """``document`` with its generated section replaced by ``render()``."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{DOCUMENT} lacks the generated-section markers")
    return head + render() + tail


def main(argv: list[str]) -> int:
    current = DOCUMENT.read_text()
    fresh = updated(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{DOCUMENT} is out of date: run python -m transform.docs", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
