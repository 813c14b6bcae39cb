"""The entity types: one table says which exist, which are synced, in what order and what they reference.

Everything that lists entity types derives from ``ENTITY_TABLE``: the canonical id prefixes, the
connect workflow's seed order, the reference lookups of a seed, reconciliation's key kinds, the
API's entity-type enums and the columns the propagation store reads references from. Adding an
entity type is one row here, a canonical model (``canonical/models.py``) and a mapping row per
platform (see ARCHITECTURE.md, "Add an entity type").

* ``synced``: connect seeds it, reconciliation links it, propagate and webhooks write it. The
  others are transform-only (``POST /transform`` translates them; nothing stores them).
* ``references``: the canonical fields that hold another record's canonical id, with that
  record's type. Synced types are listed in dependency order: each references only types
  above it, so a seed resolves its references against types already seeded.
* ``key_kinds``: reconciliation's business-key kinds for it, strongest first (see
  ``reconcile.keys``); a type with several kinds is matched by the in-memory matcher.
* ``by_number``: some platform references it by business number rather than id (BC documents
  name their project by job number), so a seed also looks links up by number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class EntityType:
    name: str
    prefix: str  # of its canonical ids, e.g. "pay" in pay_xK9mN2vL8gM3y6P
    synced: bool
    references: Mapping[str, str]  # canonical field -> referenced entity type
    key_kinds: tuple[str, ...] = ()
    by_number: bool = False

    @property
    def plural(self) -> str:
        """The API's plural (``payments``), used in counts and accepted by ``GET /objects``."""
        return f"{self.name}s"

    @property
    def referenced_types(self) -> tuple[str, ...]:
        """The entity types it references, without repeats, in table order."""
        wanted = set(self.references.values())
        return tuple(entity.name for entity in ENTITY_TABLE if entity.name in wanted)


ENTITY_TABLE: Final[tuple[EntityType, ...]] = (
    EntityType("project", "proj", synced=True, references={}, key_kinds=("project",), by_number=True),
    EntityType("customer", "cust", synced=True, references={}, key_kinds=("tax", "name")),
    EntityType(
        "contract", "cor", synced=True, references={"project_id": "project", "customer_id": "customer"},
        key_kinds=("contract",),
    ),
    EntityType(
        "invoice",
        "inv",
        synced=True,
        references={"contract_id": "contract", "project_id": "project", "customer_id": "customer"},
        key_kinds=("invoice",),
    ),
    EntityType(
        "payment",
        "pay",
        synced=True,
        references={
            "invoice_id": "invoice", "contract_id": "contract", "project_id": "project", "customer_id": "customer",
        },
        key_kinds=("check",),
    ),
    EntityType("employee", "emp", synced=False, references={}),
    EntityType("time_entry", "te", synced=False, references={"employee_id": "employee", "project_id": "project"}),
    EntityType("change_order", "co", synced=False, references={"contract_id": "contract", "project_id": "project"}),
    EntityType("budget_line_item", "bli", synced=False, references={"project_id": "project"}),
)

ENTITY_TYPES_BY_NAME: Final[Mapping[str, EntityType]] = {entity.name: entity for entity in ENTITY_TABLE}
#: Every entity type, in table order (what /transform accepts).
ALL_ENTITY_TYPES: Final[tuple[str, ...]] = tuple(entity.name for entity in ENTITY_TABLE)
#: The synced entity types in seed (dependency) order.
SYNCED_ENTITY_TYPES: Final[tuple[str, ...]] = tuple(entity.name for entity in ENTITY_TABLE if entity.synced)
#: Singular and plural names of the synced types -> the singular.
SYNCED_NAMES: Final[Mapping[str, str]] = {
    **{name: name for name in SYNCED_ENTITY_TYPES},
    **{ENTITY_TYPES_BY_NAME[name].plural: name for name in SYNCED_ENTITY_TYPES},
}
#: The entity type some platform references by business number (BC documents name their job).
#: The reference lookups handle one such type.
NUMBERED_TYPE: Final = next(entity.name for entity in ENTITY_TABLE if entity.by_number)
#: Every canonical field that references another record, over all types.
REFERENCE_FIELDS: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(field for entity in ENTITY_TABLE for field in entity.references)
)


def entity_type(name: str) -> EntityType:
    """The table row of ``name``; KeyError when there is none."""
    return ENTITY_TYPES_BY_NAME[name]


def _check_order() -> None:
    seen: set[str] = set()
    for entity in ENTITY_TABLE:
        if entity.synced:
            early = set(entity.references.values()) - seen
            if early:
                raise ValueError(f"{entity.name} references {sorted(early)} before they are seeded")
        seen.add(entity.name)


_check_order()
