"""Canonical ids: ``<prefix>_<15 alphanumerics>``, e.g. ``pay_xK9mN2vL8gM3y6P``.

An id is a pure function of (customer, source platform, entity type, native id), so
re-reading the same native record, on any machine and in any order, yields the same
canonical id; a retried activity or a re-run connect cannot mint duplicates.

The 15 characters come from a SHA-256 digest of those four parts: digest bytes of
value 248 and above are dropped (248 = 4 x 62, so what remains maps onto the 62
characters without bias) and each kept byte selects ``byte % 62``. That gives
15 x log2(62) ~ 89 bits; the birthday bound puts the first collision beyond 10^13
ids per customer. It runs as two C-level calls (``sha256`` and ``bytes.translate``),
several times faster than long-division base62, which matters because every record
and every reference it carries needs an id.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from canonical.entities import ENTITY_TABLE

PREFIXES: Final[Mapping[str, str]] = {entity.name: entity.prefix for entity in ENTITY_TABLE}
ENTITY_TYPES: Final[tuple[str, ...]] = tuple(PREFIXES)
ID_LENGTH: Final = 15

_ENTITY_BY_PREFIX: Final = {prefix: entity for entity, prefix in PREFIXES.items()}
_ALPHABET: Final = (string.digits + string.ascii_uppercase + string.ascii_lowercase).encode()
_UNBIASED_LIMIT: Final = 256 - 256 % len(_ALPHABET)  # 248
_TO_ALPHABET: Final = bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256))
_BIASED_BYTES: Final = bytes(range(_UNBIASED_LIMIT, 256))
_sha256: Final = hashlib.sha256


def id_pattern(entity_type: str) -> str:
    """Regular expression matching the canonical ids of ``entity_type`` (for validation and docs)."""
    return rf"^{PREFIXES[entity_type]}_[0-9A-Za-z]{{{ID_LENGTH}}}$"


def derive_id(entity_type: str, customer_id: str, platform: str, native_id: str) -> str:
    """``canonical_id`` without its memo: for ids computed once each (a bulk seed's own record
    ids), where memoising only costs an insert and an eviction per id."""
    prefix = PREFIXES.get(entity_type)
    if prefix is None:
        raise ValueError(f"unknown entity type {entity_type!r}")
    if not platform or not native_id:
        raise ValueError("platform and native_id must be non-empty")
    # The customer id is length-prefixed and the native id comes last, so no two inputs
    # share an encoding whatever characters they contain (platform and entity type are
    # fixed vocabularies without '|').
    key = "|".join((str(len(customer_id)), customer_id, platform, entity_type, native_id)).encode()
    digest = _sha256(key).digest()
    chars = digest.translate(_TO_ALPHABET, _BIASED_BYTES)
    while len(chars) < ID_LENGTH:  # needs 18 of 32 bytes >= 248: p ~ 1e-19, but stay total
        digest = _sha256(digest).digest()
        chars += digest.translate(_TO_ALPHABET, _BIASED_BYTES)
    return prefix + "_" + chars[:ID_LENGTH].decode()


# Bounded memo: a batch references the same projects, customers and contracts over and
# over, and the function is pure, so repeated references cost one dict lookup.
@lru_cache(maxsize=1 << 16)
def canonical_id(entity_type: str, customer_id: str, platform: str, native_id: str) -> str:
    """The canonical id of the native record ``native_id`` of ``platform``, within ``customer_id``."""
    return derive_id(entity_type, customer_id, platform, native_id)


def entity_type_of(value: str) -> str | None:
    """The entity type a canonical id belongs to, or None when ``value`` is not a canonical id."""
    prefix, sep, body = value.partition("_")
    if not sep or len(body) != ID_LENGTH or not (body.isascii() and body.isalnum()):
        return None
    return _ENTITY_BY_PREFIX.get(prefix)
