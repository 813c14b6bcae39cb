"""Reconciliation: finding the same real-world entity on two platforms by its business keys.

``keys`` extracts and normalises the keys of native records (the normalised key is what the
database stores and joins on); ``matching`` links two platforms' records one-to-one.
"""

from reconcile.keys import (
    KEY_KIND_STRENGTH,
    RECONCILED_ENTITY_TYPES,
    business_keys,
    normalize_name,
    normalize_number,
    normalize_tax_id,
)
from reconcile.matching import match, match_records

__all__ = [
    "KEY_KIND_STRENGTH",
    "RECONCILED_ENTITY_TYPES",
    "business_keys",
    "match",
    "match_records",
    "normalize_name",
    "normalize_number",
    "normalize_tax_id",
]
