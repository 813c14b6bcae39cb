"""Customers (tenants) and their API keys. Helpers here never commit: the caller owns the transaction."""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from store.tables import ApiKey, Customer, PlatformObject

KEY_MODES = ("demo", "test", "live")
_ALPHABET = string.ascii_letters + string.digits
KEY_SECRET_LENGTH = 32
KEY_PREFIX_LENGTH = 12


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key(mode: str) -> str:
    if mode not in KEY_MODES:
        raise ValueError(f"unknown key mode {mode!r}")
    return f"sk_{mode}_" + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_SECRET_LENGTH))


def key_mode(key: str) -> str | None:
    for mode in KEY_MODES:
        if key.startswith(f"sk_{mode}_"):
            return mode
    return None


@dataclass(frozen=True)
class NewCustomer:
    customer_id: uuid.UUID
    key_id: uuid.UUID
    api_key: str  # plaintext, shown once


@dataclass(frozen=True)
class KeyOwner:
    customer_id: uuid.UUID
    key_id: uuid.UUID
    mode: str
    propagate_rate_limit: int | None


async def create_customer(session: AsyncSession, *, name: str, environment: str) -> NewCustomer:
    customer = Customer(id=uuid.uuid4(), name=name, environment=environment)
    session.add(customer)
    await session.flush()
    key_id, plaintext = await add_key(session, customer.id, environment)
    return NewCustomer(customer_id=customer.id, key_id=key_id, api_key=plaintext)


async def add_key(session: AsyncSession, customer_id: uuid.UUID, mode: str) -> tuple[uuid.UUID, str]:
    plaintext = generate_key(mode)
    key = ApiKey(
        id=uuid.uuid4(),
        customer_id=customer_id,
        key_hash=hash_key(plaintext),
        prefix=plaintext[:KEY_PREFIX_LENGTH],
        mode=mode,
    )
    session.add(key)
    await session.flush()
    return key.id, plaintext


# Built once, not per request: composing the select cost more CPU than running it (bench/propagate).
KEY_OWNER = (
    select(ApiKey.id, ApiKey.customer_id, ApiKey.mode, Customer.propagate_rate_limit)
    .join(Customer, Customer.id == ApiKey.customer_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked.is_(False))
)


async def find_key_owner(session: AsyncSession | AsyncConnection, plaintext: str) -> KeyOwner | None:
    row = (await session.execute(KEY_OWNER, {"key_hash": hash_key(plaintext)})).first()
    if row is None:
        return None
    return KeyOwner(customer_id=row.customer_id, key_id=row.id, mode=row.mode, propagate_rate_limit=row[3])


async def revoke_key(session: AsyncSession, *, key_id: uuid.UUID | None = None, prefix: str | None = None) -> int:
    """Revoke by id or by the printed prefix; returns how many keys were revoked."""
    stmt = update(ApiKey).where(ApiKey.revoked.is_(False)).values(revoked=True, revoked_at=func.now())
    if key_id is not None:
        stmt = stmt.where(ApiKey.id == key_id)
    elif prefix:
        stmt = stmt.where(ApiKey.prefix == prefix[:KEY_PREFIX_LENGTH])
    else:
        raise ValueError("key_id or prefix required")
    result = await session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_customer(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Delete a customer and everything it owns: foreign keys cascade to its tables but
    platform_objects, deleted here (see migration 0004).

    The customer row goes first: that waits for seed batches holding its key-share lock and
    makes later ones find no customer, so no platform object can outlive it."""
    await session.execute(delete(Customer).where(Customer.id == customer_id))
    await session.execute(delete(PlatformObject).where(PlatformObject.customer_id == customer_id))


async def set_propagate_rate_limit(session: AsyncSession, customer_id: uuid.UUID, limit: int | None) -> None:
    await session.execute(update(Customer).where(Customer.id == customer_id).values(propagate_rate_limit=limit))
