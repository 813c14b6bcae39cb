"""Demo sessions: creation, the per-IP limit, and deletion cascading through the database."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures.api import assert_error, assert_headers
from tests.fixtures.net import auth, make_client

TENANT_TABLES = (
    "api_keys",
    "connections",
    "canonical_objects",
    "platform_objects",
    "entity_mappings",
    "propagations",
    "reseed_schedules",
)


async def count_rows(sm: async_sessionmaker[AsyncSession], table: str, customer_id: str) -> int:
    async with sm() as s:
        return int(
            (
                await s.execute(text(f"SELECT count(*) FROM {table} WHERE customer_id = :c"), {"c": customer_id})
            ).scalar_one()
        )


async def seed_owned_rows(sm: async_sessionmaker[AsyncSession], customer_id: str) -> None:
    """Put one row in every tenant table so the cascade is really exercised."""
    async with sm() as s:
        p = {"c": customer_id}
        await s.execute(
            text(
                "INSERT INTO connections (id, customer_id, platform, status) "
                "VALUES (gen_random_uuid(), :c, 'procore', 'active')"
            ),
            p,
        )
        await s.execute(
            text(
                "INSERT INTO canonical_objects (customer_id, id, entity_type, data) "
                "VALUES (:c, 'pay_000000000000001', 'payment', '{}')"
            ),
            p,
        )
        await s.execute(
            text(
                "INSERT INTO platform_objects (customer_id, platform, entity_type, platform_id, "
                "generation, data) VALUES (:c, 'procore', 'payment', '1', 1, '{}')"
            ),
            p,
        )
        await s.execute(
            text(
                "INSERT INTO entity_mappings (customer_id, canonical_id, platform, entity_type, "
                "platform_id, generation) VALUES (:c, 'pay_000000000000001', 'procore', "
                "'payment', '1', 1)"
            ),
            p,
        )
        await s.execute(
            text(
                "INSERT INTO propagations (id, customer_id, canonical_id, entity_type, format, "
                "request, status) VALUES ('prop_' || md5(:c), CAST(:c AS uuid), 'pay_000000000000001', "
                "'payment', 'canonical', '{}', 'completed')"
            ),
            p,
        )
        await s.execute(
            text(
                "INSERT INTO reseed_schedules (schedule_id, customer_id, platform, "
                "interval_seconds) VALUES ('sched-' || :c, CAST(:c AS uuid), 'procore', 3600)"
            ),
            p,
        )
        await s.commit()


async def test_create_and_delete_cascades(app: Any, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with make_client(app, ip=f"10.1.{uuid.uuid4().int % 250}.1") as client:
        resp = await client.post("/api/v1/demo/session")
        assert resp.status_code == 201, resp.text
        assert_headers(resp)
        data = resp.json()["data"]
        key, customer_id = data["api_key"], data["customer_id"]
        assert key.startswith("sk_demo_") and len(key) > 30
        uuid.UUID(customer_id)

        # only the hash is stored
        async with sessionmaker() as s:
            stored = (
                await s.execute(
                    text("SELECT key_hash, prefix FROM api_keys WHERE customer_id = :c"), {"c": customer_id}
                )
            ).one()
            leaked = (
                await s.execute(text("SELECT count(*) FROM api_keys WHERE key_hash = :k OR prefix = :k"), {"k": key})
            ).scalar_one()
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert leaked == 0 and key not in stored.prefix

        await seed_owned_rows(sessionmaker, customer_id)
        for table in TENANT_TABLES:
            assert await count_rows(sessionmaker, table, customer_id) >= 1, table

        resp = await client.delete("/api/v1/demo/session", headers=auth(key))
        assert resp.status_code == 204 and resp.content == b""
        assert_headers(resp)

        for table in TENANT_TABLES:
            assert await count_rows(sessionmaker, table, customer_id) == 0, table
        async with sessionmaker() as s:
            assert (
                await s.execute(text("SELECT count(*) FROM customers WHERE id = :c"), {"c": customer_id})
            ).scalar_one() == 0
            assert (
                await s.execute(
                    text(
                        "SELECT count(*) FROM propagation_targets t LEFT JOIN propagations p "
                        "ON p.id = t.propagation_id WHERE p.id IS NULL"
                    )
                )
            ).scalar_one() == 0

        # the key is gone for good
        again = await client.delete("/api/v1/demo/session", headers=auth(key))
        assert_error(again, 401, "AUTHENTICATION_ERROR", "Invalid or missing API key")


async def test_other_customers_survive_a_delete(app: Any, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with make_client(app, ip="10.2.0.1") as client:
        a = (await client.post("/api/v1/demo/session")).json()["data"]
        b = (await client.post("/api/v1/demo/session")).json()["data"]
        await seed_owned_rows(sessionmaker, b["customer_id"])
        assert (await client.delete("/api/v1/demo/session", headers=auth(a["api_key"]))).status_code == 204
        for table in TENANT_TABLES:
            assert await count_rows(sessionmaker, table, b["customer_id"]) >= 1, table
        assert (await client.delete("/api/v1/demo/session", headers=auth(b["api_key"]))).status_code == 204


async def test_rate_limit_five_per_ip_per_minute(app: Any) -> None:
    ip = f"10.3.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with make_client(app, ip=ip) as client, make_client(app, ip=ip + "0") as other:
        statuses = [(await client.post("/api/v1/demo/session")).status_code for _ in range(5)]
        assert statuses == [201] * 5
        limited = await client.post("/api/v1/demo/session")
        err = assert_error(limited, 429, "RATE_LIMIT_ERROR")
        assert "5" in err["message"]
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        # another client is not affected
        assert (await other.post("/api/v1/demo/session")).status_code == 201
