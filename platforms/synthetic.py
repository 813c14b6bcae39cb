"""Synthetic sandbox data of any size, for load tests (`bench/connect`): `synthetic:<payments>`.

Records are the demo records' shapes with generated ids, business keys and amounts, so they go
through the same mappers. Both platforms carry the same business keys (BC in upper-case noise
the normaliser removes), so reconciliation links every record. Proportions follow the demo set:
per 1,000 payments, 50 projects, 40 customers, 125 contracts and 1,000 invoices.
Generated lazily, in a fixed order: nothing is held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

QAR_PER_USD = Decimal("3.64")
CENT = Decimal("0.01")

# Generation runs inside the seed activity's hot loop (a few microseconds per record matter), so
# amounts are computed in integer cents and ids from precomputed bases; the values are exactly
# those of the Decimal formulas in the comments.


def sizes(payments: int) -> dict[str, int]:
    return {
        "project": max(1, payments // 20),
        "customer": max(1, payments // 25),
        "contract": max(1, payments // 8),
        "invoice": max(1, payments),
        "payment": max(1, payments),
    }


def usd_cents(i: int) -> int:
    # Decimal(1000 + (i * 37) % 900000) + Decimal(i % 100) / 100, in cents.
    return (1000 + (i * 37) % 900000) * 100 + i % 100


def cents_text(cents: int) -> str:
    """f"{cents / 100:.2f}" without floats."""
    return f"{cents // 100}.{cents % 100:02d}"


def qar(usd_cents: int) -> Decimal:
    """(usd * QAR_PER_USD).quantize(CENT): rounded half to even, like the Decimal context."""
    q, r = divmod(usd_cents * 364, 100)
    if 2 * r > 100 or (2 * r == 100 and q % 2):
        q += 1
    return Decimal(q).scaleb(-2)


def synthetic_records(platform: str, entity_type: str, *, payments: int) -> Iterator[dict[str, Any]]:
    """The data set `synthetic:<payments>` of one platform's entity type (its descriptor generates it)."""
    from platforms.registry import get_platform

    generate = get_platform(platform).synthetic_records
    if generate is None:
        raise ValueError(f"{platform} has no synthetic data set")
    yield from generate(entity_type, payments)
