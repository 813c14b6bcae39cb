"""Business Central API v2.0 ``$metadata`` (the vendored ``schemas/metadata.xml``), read once.

What the emulator, the live client and the mapper hold BC's records to: each entity type's
properties (Edm type, ``Nullable``, ``MaxLength``) in the order BC sends them, and each enum type's
members as they go on the wire. OData writes an enum member's name XML-encoded: a character not
allowed in an identifier is ``_xHHHH_`` (BC's blank option is ``_x0020_``, "In Review" is
``In_x0020_Review``); ``wire_member``/``display_member`` translate.

Only the standard library (``xml.etree``) is used; the parsed document is cached for the process.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

_EDM: Final = "{http://docs.oasis-open.org/odata/ns/edm}"
_NAMESPACE: Final = "Microsoft.NAV."
_METADATA: Final = Path(__file__).parent / "schemas" / "metadata.xml"
_ENCODED: Final = re.compile(r"_x([0-9A-Fa-f]{4})_")

#: Our entity types -> the BC entity type serving them (synced types and those with a standard API).
ENTITY_TYPES: Final = MappingProxyType(
    {
        "project": "project",
        "customer": "customer",
        "contract": "salesOrder",
        "invoice": "salesInvoice",
        "payment": "customerPayment",
        "employee": "employee",
        "time_entry": "timeRegistrationEntry",
    }
)

#: How BC spells an empty value of each Edm type (the captured ``salesOrders`` response: ``""``,
#: ``0``, ``false``, ``"0001-01-01"``, the zero GUID); a blank enum is its first member.
EMPTY_GUID: Final = "00000000-0000-0000-0000-000000000000"
_BLANKS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "Edm.String": "",
        "Edm.Decimal": 0,
        "Edm.Int32": 0,
        "Edm.Int64": 0,
        "Edm.Boolean": False,
        "Edm.Guid": EMPTY_GUID,
        "Edm.Date": "0001-01-01",
        "Edm.DateTimeOffset": "0001-01-01T00:00:00Z",
    }
)


@dataclass(frozen=True, slots=True)
class Property:
    """One structural property of an entity type, as ``$metadata`` declares it."""

    name: str
    type: str  # "Edm.String", ... or an enum type's name without the namespace ("customerBlocked")
    nullable: bool
    max_length: int | None

    @property
    def is_enum(self) -> bool:
        return not self.type.startswith("Edm.")


@dataclass(frozen=True, slots=True)
class Schema:
    #: entity type -> its properties by name, in document order (the order BC writes them).
    entity_types: Mapping[str, Mapping[str, Property]]
    #: enum type -> its member names, as on the wire.
    enums: Mapping[str, tuple[str, ...]]
    #: entity set (``salesOrders``) -> entity type (``salesOrder``).
    entity_sets: Mapping[str, str]

    def properties(self, entity_type: str) -> Mapping[str, Property]:
        return self.entity_types[entity_type]

    def members(self, enum_type: str) -> tuple[str, ...]:
        return self.enums[enum_type]

    def blank(self, prop: Property) -> Any:
        """The value BC sends for a property nobody has set."""
        return self.enums[prop.type][0] if prop.is_enum else _BLANKS[prop.type]


def _local(type_name: str) -> str:
    return type_name.removeprefix(_NAMESPACE)


@cache
def schema() -> Schema:
    """The vendored ``$metadata``, parsed (once per process)."""
    root = ET.parse(_METADATA).getroot()
    entity_types: dict[str, Mapping[str, Property]] = {}
    enums: dict[str, tuple[str, ...]] = {}
    sets: dict[str, str] = {}
    for element in root.iter(f"{_EDM}EntityType"):
        props = {}
        for prop in element.findall(f"{_EDM}Property"):
            length = prop.get("MaxLength")
            props[prop.attrib["Name"]] = Property(
                name=prop.attrib["Name"],
                type=_local(prop.attrib["Type"]),
                nullable=prop.get("Nullable", "true") != "false",
                max_length=int(length) if length and length.isdigit() else None,
            )
        entity_types[element.attrib["Name"]] = MappingProxyType(props)
    for element in root.iter(f"{_EDM}EnumType"):
        enums[element.attrib["Name"]] = tuple(m.attrib["Name"] for m in element.findall(f"{_EDM}Member"))
    for container in root.iter(f"{_EDM}EntityContainer"):
        for entity_set in container.findall(f"{_EDM}EntitySet"):
            sets[entity_set.attrib["Name"]] = _local(entity_set.attrib["EntityType"])
    return Schema(MappingProxyType(entity_types), MappingProxyType(enums), MappingProxyType(sets))


def properties_of(entity_type: str) -> Mapping[str, Property]:
    """The BC properties of one of OUR entity types (``contract`` -> ``salesOrder``'s)."""
    return schema().properties(ENTITY_TYPES[entity_type])


def whole(bc_type: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A whole BC record of ``bc_type``: every property in ``$metadata`` order, ``values`` where given
    and BC's empty value elsewhere (BC always sends every property). ``@odata.*`` keys go first."""
    described = schema()
    props = described.properties(bc_type)
    unknown = set(values) - set(props) - {k for k in values if k.startswith("@")}
    if unknown:
        raise KeyError(f"not properties of {bc_type}: {', '.join(sorted(unknown))}")
    head = {k: v for k, v in values.items() if k.startswith("@")}
    return {**head, **{name: values[name] if name in values else described.blank(p) for name, p in props.items()}}


@cache
def max_lengths() -> Mapping[str, Mapping[str, int]]:
    """The longest text each BC property takes, keyed by OUR entity types (the descriptor's
    ``max_lengths``): a longer value is BC's 400 ``Application_StringExceededLength``."""
    return MappingProxyType(
        {
            ours: MappingProxyType(
                {name: p.max_length for name, p in schema().properties(bc_type).items() if p.max_length is not None}
            )
            for ours, bc_type in ENTITY_TYPES.items()
        }
    )


def wire_member(display: str) -> str:
    """An enum member as OData names it (``"In Review"`` -> ``"In_x0020_Review"``, ``" "`` -> ``"_x0020_"``)."""
    return "".join(ch if ch.isalnum() or ch == "_" else f"_x{ord(ch):04X}_" for ch in display)


def display_member(wire: str) -> str:
    """The option caption an enum member's OData name stands for (``"_x0020_"`` -> ``" "``)."""
    return _ENCODED.sub(lambda m: chr(int(m.group(1), 16)), wire)


#: Properties the API pages mark ``Editable = false`` besides ``id``, ``number`` and
#: ``lastModifiedDateTime`` (microsoft/ALAppExtensions ``Apps/W1/APIV2/app/src/pages``:
#: ``APIV2SalesOrders.Page.al``, ``APIV2SalesInvoices.Page.al``, ``APIV2Customers.Page.al``;
#: ``$metadata`` does not say which properties are writable). Keyed by our entity types.
_BILL_TO: Final = frozenset(
    {"billToName", "billToAddressLine1", "billToAddressLine2", "billToCity", "billToCountry", "billToState",
     "billToPostCode"}
)
_TOTALS: Final = frozenset({"totalAmountExcludingTax", "totalTaxAmount", "totalAmountIncludingTax"})
READ_ONLY: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "project": frozenset(),
        "customer": frozenset({"balanceDue", "taxAreaDisplayName"}),
        "contract": _BILL_TO | _TOTALS | {"customerName", "discountAppliedBeforeTax", "status", "fullyShipped"},
        "invoice": _BILL_TO
        | _TOTALS
        | {"customerName", "discountAppliedBeforeTax", "status", "orderId", "orderNumber", "pricesIncludeTax",
           "remainingAmount"},
        # The page refuses to move a line to another journal ("The Journal Id cannot be changed.").
        "payment": frozenset({"journalId", "journalDisplayName"}),
    }
)
