"""The seed's own COPY text encoding, written into a real PostgreSQL and read back unchanged."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activities.connect import RowEncoder
from canonical.encoding import canonical_json
from canonical.jsonio import loads
from platforms import MappingContext, get_mapper
from reconcile.keys import business_keys
from store import connect as q
from store.customers import create_customer, delete_customer
from transform.samples import samples

# Every character COPY's text format treats specially, and some Python's isprintable() refuses
# that are not COPY escapes (vertical tab, NEL, line separator): all must arrive as sent.
AWKWARD = 'tab\there, new\nline, cr\r, back\\slash, "quotes", \\N, \x0b \x85 \u2028 é 漢 \U0001f600'


async def test_awkward_values_survive_the_copy(engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]):
    async with sessionmaker() as session:
        customer = (await create_customer(session, name="copy-check", environment="test")).customer_id
        await session.commit()
    records = []
    for i, suffix in enumerate(("", AWKWARD)):
        record = dict(samples("dynamics")["payment"])
        record.update(
            id=f"{AWKWARD} {i}" if suffix else "printable\\but-a-backslash",
            documentNumber=f"CHK\t{suffix}",
            description=suffix,
            comment=suffix,
            amount=Decimal("1234.50"),
        )
        record["@odata.etag"] = f'W/"{suffix}"'
        records.append(record)
    generation = 7
    data = RowEncoder(customer, "dynamics", "payment", generation).encode(records, MappingContext(currency="QAR"))
    async with engine.begin() as conn, q.platform_objects_copy(conn, customer) as copy:
        await copy.write(data)

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT platform_id, data::text, canonical_data::text, match_key, match_keys, etag"
                    " FROM platform_objects WHERE customer_id = :c AND generation = :g ORDER BY id"
                ),
                {"c": customer, "g": generation},
            )
        ).all()
    assert len(rows) == 2
    for row, record in zip(rows, records, strict=True):
        assert row.platform_id == record["id"]
        assert loads(row.data) == record  # Decimal amounts exact
        canonical = get_mapper("dynamics").to_canonical(
            "payment", record, customer_id=str(customer), context=MappingContext(currency="QAR")
        )
        assert loads(row.canonical_data) == loads(canonical_json(canonical, external_ids=False))
        keys = business_keys("dynamics", "payment", record)
        assert row.match_key == (keys[0] if keys else None)
        assert row.match_keys == list(keys)
        assert row.etag == record["@odata.etag"]


async def test_a_deleted_customer_keeps_no_rows_even_mid_seed(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
):
    """platform_objects has no per-row foreign key (migration 0004): a seed batch's key-share lock
    on the customer and delete_customer's order keep its two guarantees."""
    async with sessionmaker() as session:
        customer = (await create_customer(session, name="copy-delete", environment="test")).customer_id
        await session.commit()
    record = dict(samples("procore")["payment"])
    data = RowEncoder(customer, "procore", "payment", 1).encode([record], MappingContext())

    async def delete() -> None:
        async with sessionmaker() as session:
            await delete_customer(session, customer)
            await session.commit()

    async with engine.begin() as conn, q.platform_objects_copy(conn, customer) as copy:
        await copy.write(data)
        deleting = asyncio.create_task(delete())
        await asyncio.sleep(0.5)
        assert not deleting.done()  # waits for the batch, as the foreign key made it wait
    await deleting

    async with engine.connect() as conn:
        left = await conn.scalar(text("SELECT count(*) FROM platform_objects WHERE customer_id = :c"), {"c": customer})
    assert left == 0
    with pytest.raises(q.CustomerGone):
        async with engine.begin() as conn, q.platform_objects_copy(conn, customer) as copy:
            await copy.write(data)
