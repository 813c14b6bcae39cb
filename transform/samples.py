"""Realistic native records of every entity type on every platform, for tests, the mapping
benchmark and as examples for ``POST /transform``. Each platform keeps its own in
``platforms/<name>/samples.py``; this module finds them through the platform registry.
"""

from __future__ import annotations

import copy
from typing import Any

from platforms.registry import get_platform

NativeRecord = dict[str, Any]


def sample(platform: str, entity_type: str) -> NativeRecord:
    """A fresh copy of the sample record; the caller may mutate it."""
    return copy.deepcopy(get_platform(platform).samples()[entity_type])


def samples(platform: str) -> dict[str, NativeRecord]:
    """Fresh copies of every sample record of ``platform``, by entity type."""
    return copy.deepcopy(dict(get_platform(platform).samples()))
