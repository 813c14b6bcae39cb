"""Bearer API-key authentication."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from api.deps import SessionDep
from api.errors import AUTH_MESSAGE, ApiError, ErrorType
from store.customers import KeyOwner, find_key_owner, hash_key, key_mode

# auto_error=False: we render our own 401 envelope instead of FastAPI's 403.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="API key: `sk_demo_*` (sandbox), `sk_test_*` (staging), `sk_live_*` (production)",
)


def _presented_key(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or key_mode(credentials.credentials) is None:
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE)
    return credentials.credentials


async def _key_owner(executor: AsyncSession | AsyncConnection, key: str) -> KeyOwner:
    owner = await find_key_owner(executor, key)
    if owner is None:
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE)
    return owner


async def authenticate(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> KeyOwner:
    return await _key_owner(session, _presented_key(credentials))


CurrentKey = Annotated[KeyOwner, Depends(authenticate)]


@dataclass(frozen=True)
class Caller:
    """An authenticated key and the connection it was checked on, which the route goes on using."""

    owner: KeyOwner
    conn: AsyncConnection
    engine: AsyncEngine  # for statements after `conn` is given back


async def authenticate_on_connection(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AsyncIterator[Caller]:
    """For a hot route that needs a statement or two more: one pool checkout for the whole request,
    in autocommit (each statement its own transaction, no BEGIN/COMMIT round trips). The route may
    close the connection early (before waiting on something else); it is closed here otherwise."""
    key = _presented_key(credentials)
    engine = cast(AsyncEngine, request.app.state.engine)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield Caller(await _key_owner(conn, key), conn, engine)


CallerDep = Annotated[Caller, Depends(authenticate_on_connection)]

# Verified keys of the stateless endpoint (/transform), so it does no database access per request
# and keeps up with a bare endpoint. A revoked key may still *transform* for up to this long; it can
# never read or change tenant data, which always re-checks the key.
STATELESS_KEY_TTL_SECONDS = 30.0
_verified: dict[str, tuple[KeyOwner, float]] = {}


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, as ``bearer`` extracts it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


async def authenticate_stateless(request: Request) -> KeyOwner:
    """The key's owner, from the cache of verified keys when possible (see above).

    One dependency reading the header itself, not a sub-dependency on ``bearer``: FastAPI's
    dependency resolution costs more per level than the whole translation. (The route
    declares the bearer scheme in its OpenAPI ``security`` instead.)"""
    token = bearer_token(request)
    if token is None or key_mode(token) is None:
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE)
    digest = hash_key(token)
    cached = _verified.get(digest)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return cached[0]
    maker = request.app.state.sessionmaker
    async with maker() as session:
        owner = await find_key_owner(session, token)
    if owner is None:
        _verified.pop(digest, None)
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE)
    if len(_verified) > 10_000:  # bounded: drop everything rather than track recency
        _verified.clear()
    _verified[digest] = (owner, now + STATELESS_KEY_TTL_SECONDS)
    return owner


StatelessKey = Annotated[KeyOwner, Depends(authenticate_stateless)]
