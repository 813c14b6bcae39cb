"""Where sandbox connects read native records from: named data sets, streamed in order.

`demo` is the documented demo data set; `synthetic:<payments>` is a generated one of any size for
load tests (bench/connect). Both are deterministic, so a retried seed activity can skip what an
earlier attempt already committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

NativeRecord = dict[str, Any]


def sandbox_records(platform: str, entity_type: str, dataset: str = "demo") -> Iterator[NativeRecord]:
    if dataset == "demo":
        from platforms.registry import get_platform

        yield from get_platform(platform).demo_records().get(entity_type, [])
        return
    if dataset.startswith("synthetic:"):
        from platforms.synthetic import synthetic_records

        yield from synthetic_records(platform, entity_type, payments=int(dataset.split(":", 1)[1]))
        return
    raise ValueError(f"unknown sandbox data set {dataset!r} (expected 'demo' or 'synthetic:<payments>')")


def validate_dataset(dataset: str) -> str:
    if dataset == "demo":
        return dataset
    if dataset.startswith("synthetic:") and dataset.split(":", 1)[1].isdigit():
        return dataset
    raise ValueError(f"unknown sandbox data set {dataset!r} (expected 'demo' or 'synthetic:<payments>')")
