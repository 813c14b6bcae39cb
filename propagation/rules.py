"""Conflict rules and sync directions of a connection. Pure.

A conflict is a write that finds the target's record changed by somebody since the engine read it.
The target connection's rule for the entity type (and field) decides, else the source connection's,
else ``manual``:

- ``manual``: nothing is written; the conflict is queued for a person (GET /conflicts).
- ``latest``: the later change wins, by the platforms' own timestamps: ours (the change being
  propagated) is written over theirs if it is later, otherwise theirs is read and applied everywhere.
- ``prefer:<platform>``: that platform is the source of truth for the type (or field): its value wins.

A direction per entity type (``both``, or ``<a>_to_<b>``) makes sync one-way: changes made on ``b``
are ignored (and recorded), and ``b`` takes ``a``'s values even over its own edits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from platforms import get_mapper

Decision = Literal["overwrite", "theirs", "manual"]
DEFAULT_RULE = "manual"
BOTH = "both"


def rule_for(connections: Sequence[Mapping[str, Any]], entity_type: str, field: str) -> str:
    """The rule for ``field`` of ``entity_type``: the first connection (target, then source) that has
    one, per field first, then for the type (``"*"`` or a plain rule); else ``manual``."""
    for settings in connections:
        rule = (settings.get("rules") or {}).get(entity_type)
        if isinstance(rule, str):
            return rule
        if isinstance(rule, Mapping):
            if field in rule:
                return str(rule[field])
            if "*" in rule:
                return str(rule["*"])
    return DEFAULT_RULE


def flows(connections: Iterable[Mapping[str, Any]], entity_type: str, source: str, target: str) -> bool:
    """Whether changes of ``entity_type`` flow from ``source`` to ``target`` (no connection makes the
    type one-way the other way)."""
    for settings in connections:
        direction = (settings.get("directions") or {}).get(entity_type, BOTH)
        if direction == BOTH:
            continue
        start, _, end = str(direction).partition("_to_")
        if (source, target) != (start, end):
            return False
    return True


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def decide(
    rule: str,
    *,
    source: str | None,
    target: str,
    source_stamp: str | None,
    remote_stamp: str | None,
    one_way: bool = False,
) -> Decision:
    """What a conflict on ``target`` does with one field. ``source`` is where the change came from
    (None: the API); ``one_way``: the type flows only from the source to the target."""
    if one_way:
        return "overwrite"
    if rule.startswith("prefer:"):
        return "theirs" if rule.partition(":")[2] == target else "overwrite"
    if rule == "latest":
        if not source_stamp or not remote_stamp:
            return "manual"
        try:
            return "overwrite" if _moment(source_stamp) >= _moment(remote_stamp) else "theirs"
        except ValueError:
            return "manual"
    return "manual"


def native_keys(platform: str, entity_type: str, fields: Iterable[str]) -> set[str]:
    """The platform's native keys that hold ``fields`` of ``entity_type``."""
    wanted = set(fields)
    spec = get_mapper(platform).specs[entity_type]  # type: ignore[attr-defined]
    return {key for codec in spec.codecs if wanted & set(codec.fields) for key in codec.keys}


def check_rules(rules: Mapping[str, Any], platforms: Iterable[str], fields_of: Mapping[str, Iterable[str]]) -> str | None:
    """Why ``rules`` (entity type -> rule, or field -> rule with ``"*"`` for the rest) is not valid, or None."""
    known = set(platforms)

    def bad_rule(value: Any) -> bool:
        if value in ("latest", "manual"):
            return False
        return not (isinstance(value, str) and value.startswith("prefer:") and value.partition(":")[2] in known)

    allowed = "latest, manual or prefer:<" + "|".join(sorted(known)) + ">"
    for entity_type, rule in rules.items():
        if entity_type not in fields_of:
            return f"rules.{entity_type}: not a synced entity type"
        if isinstance(rule, Mapping):
            for field, value in rule.items():
                if field != "*" and field not in set(fields_of[entity_type]):
                    return f"rules.{entity_type}.{field}: not a field of {entity_type}"
                if bad_rule(value):
                    return f"rules.{entity_type}.{field}: {value!r} is not a rule ({allowed})"
        elif bad_rule(rule):
            return f"rules.{entity_type}: {rule!r} is not a rule ({allowed})"
    return None


def check_directions(directions: Mapping[str, Any], platforms: Iterable[str], entity_types: Iterable[str]) -> str | None:
    """Why ``directions`` (entity type -> both | <a>_to_<b>) is not valid, or None."""
    known = sorted(platforms)
    choices = [BOTH] + [f"{a}_to_{b}" for a in known for b in known if a != b]
    types = set(entity_types)
    for entity_type, direction in directions.items():
        if entity_type not in types:
            return f"directions.{entity_type}: not a synced entity type"
        if direction not in choices:
            return f"directions.{entity_type}: {direction!r} is not one of {', '.join(choices)}"
    return None
