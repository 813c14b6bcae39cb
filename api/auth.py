"""Bearer API-key authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SessionDep
from api.errors import AUTH_MESSAGE, ApiError, ErrorType
from store.customers import KeyOwner, find_key_owner, key_mode

# auto_error=False: we render our own 401 envelope instead of FastAPI's 403.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="API key: `sk_demo_*` (sandbox), `sk_test_*` (staging), `sk_live_*` (production)",
)


async def authenticate(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> KeyOwner:
    if credentials is None or key_mode(credentials.credentials) is None:
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE)
    owner = await find_key_owner(session, credentials.credentials)
    if owner is None:
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE)
    return owner


CurrentKey = Annotated[KeyOwner, Depends(authenticate)]
