"""POST /webhooks/{platform}: platform change notifications, the natural source of platform mode.

Each platform's descriptor says how its deliveries read and how they are authenticated (Procore:
an API key in the destination header; Business Central: a `validationToken` handshake, then
batches whose `clientState` carries the key); `propagation.webhooks` takes them in. Every accepted
change starts a WebhookWorkflow and the delivery is answered at once; repeats are ignored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from starlette.responses import PlainTextResponse

from api.auth import bearer
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import AUTH_MESSAGE, ApiError, ErrorType
from api.schemas import error_responses
from platforms.descriptor import WebhookShapeError
from platforms.registry import PlatformName, get_platform
from propagation.webhooks import Unauthenticated, take_in

router = APIRouter(tags=["Webhooks"])


class WebhookAccepted(BaseModel):
    accepted: int
    duplicates: int
    ignored: int


class WebhookEnvelope(BaseModel):
    data: WebhookAccepted


@router.post(
    "/webhooks/{platform}",
    status_code=202,
    response_model=WebhookEnvelope,
    responses={
        200: {
            "description": "A subscription validation handshake (Business Central): the validationToken, as text/plain",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR, ErrorType.UNSUPPORTED_MEDIA_TYPE),
    },
    summary="Receive a platform webhook",
)
async def receive_webhook(
    platform: PlatformName,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    # Any JSON: the platform's parser says what it cannot use (Business Central must get a 2xx for it).
    body: Any = Body(default=None),
    validationToken: str | None = None,
) -> WebhookEnvelope | PlainTextResponse:
    if validationToken is not None:
        echo = get_platform(platform).webhooks.handshake({"validationToken": validationToken})
        if echo is not None:
            return PlainTextResponse(echo)
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    try:
        intake = await take_in(
            session,
            temporal,
            platform=platform,
            body=body,
            header_key=credentials.credentials if credentials else None,
            task_queue=settings.task_queue,
        )
    except Unauthenticated:
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE) from None
    except WebhookShapeError as err:
        raise ApiError(ErrorType.VALIDATION_ERROR, str(err)) from None
    return WebhookEnvelope(
        data=WebhookAccepted(accepted=intake.accepted, duplicates=intake.duplicates, ignored=intake.ignored)
    )
