"""The canonical model: platform-neutral entities, their ids and money.

Pure code: no I/O, no database, importable from workflows.
"""

from canonical.errors import MoneyError, RequestShapeError, TransformError
from canonical.ids import ENTITY_TYPES, PREFIXES, canonical_id, entity_type_of
from canonical.models import (
    CANONICAL_VERSION,
    FIELDS,
    MODELS,
    BudgetLineItem,
    CanonicalModel,
    ChangeOrder,
    Contract,
    Customer,
    Employee,
    Invoice,
    Payment,
    Project,
    TimeEntry,
    model_for,
)
from canonical.money import Money, convert

__all__ = [
    "CANONICAL_VERSION",
    "ENTITY_TYPES",
    "FIELDS",
    "MODELS",
    "PREFIXES",
    "BudgetLineItem",
    "CanonicalModel",
    "ChangeOrder",
    "Contract",
    "Customer",
    "Employee",
    "Invoice",
    "Money",
    "MoneyError",
    "Payment",
    "Project",
    "RequestShapeError",
    "TimeEntry",
    "TransformError",
    "canonical_id",
    "convert",
    "entity_type_of",
    "model_for",
]
