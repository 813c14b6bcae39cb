"""Demo sessions: an isolated sandbox customer with a `sk_demo_` key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from api import ratelimit
from api.auth import CurrentKey
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, ErrorType, json_response
from api.schemas import DemoSessionEnvelope, error_responses
from scheduling.disconnect import remove_customer
from store.customers import create_customer, revoke_key

router = APIRouter(tags=["Demo"])


@router.post(
    "/demo/session",
    status_code=201,
    response_model=DemoSessionEnvelope,
    responses=error_responses(ErrorType.RATE_LIMIT_ERROR, ErrorType.UNSUPPORTED_MEDIA_TYPE),
    summary="Create a demo session",
    description="Creates an isolated sandbox customer and returns its API key (shown once). "
    "Limited to 5 per client IP per minute.",
)
async def create_demo_session(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    client_ip = request.client.host if request.client else "unknown"
    await ratelimit.enforce(session, f"demo:{client_ip}", settings.demo_sessions_per_minute)
    created = await create_customer(session, name="Demo customer", environment="demo")
    await session.commit()
    return json_response({"data": {"api_key": created.api_key, "customer_id": str(created.customer_id)}}, status=201)


@router.delete(
    "/demo/session",
    status_code=204,
    response_class=Response,
    responses=error_responses(ErrorType.AUTHENTICATION_ERROR, ErrorType.AUTHORIZATION_ERROR),
    summary="End a demo session",
    description="Revokes the calling demo key and deletes the customer with everything it owns.",
)
async def delete_demo_session(
    key: CurrentKey, session: SessionDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    if key.mode != "demo":
        # Deleting a real customer's data through a convenience endpoint would be a foot-gun.
        raise ApiError(ErrorType.AUTHORIZATION_ERROR, "Only demo keys can end a demo session")
    await revoke_key(session, key_id=key.key_id)
    await remove_customer(session, temporal, settings, key.customer_id)
    await session.commit()
    return Response(status_code=204)
