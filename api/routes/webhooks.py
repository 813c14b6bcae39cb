"""POST /webhooks/{platform}: platform change notifications, the natural source of platform mode.

Procore posts thin unsigned events (`resource_name`, `resource_id`, `event_type`, `ulid`); the
customer configures our API key as a destination header (`Authorization: Bearer ...`). Business
Central first checks the subscription with a `validationToken` handshake (echoed as text/plain),
then posts batches `{"value": [{subscriptionId, clientState, resource, changeType, ...}]}`; it
cannot send headers, so each notification's `clientState` carries the API key. Every accepted
delivery starts a WebhookWorkflow (fetch the record, propagate it) and is answered at once:
platforms time out quickly (Procore after 5 s) and retry, and repeated deliveries are ignored.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from sqlalchemy import text
from starlette.responses import PlainTextResponse, Response
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from api.auth import bearer
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import AUTH_MESSAGE, ApiError, ErrorType, json_response
from api.schemas import error_responses
from models.webhook import WebhookEvent
from store.customers import KeyOwner, find_key_owner
from workflows.names import CUSTOMER_ID, PLATFORM
from workflows.webhook import WebhookWorkflow

router = APIRouter(tags=["Webhooks"])

# Procore resource names (as in its webhook events) and BC entity sets -> canonical entity types.
PROCORE_RESOURCES = {
    "projects": "project",
    "vendors": "customer",
    "work order contracts": "contract",
    "purchase order contracts": "contract",
    "commitments": "contract",
    "requisitions": "invoice",
    "subcontractor invoices": "invoice",
    "contract payments": "payment",
    "payments": "payment",
}
BC_SETS = {
    "projects": "project",
    "customers": "customer",
    "salesOrders": "contract",
    "salesInvoices": "invoice",
    "customerPayments": "payment",
}
BC_RESOURCE = re.compile(r"(\w+)\(([0-9a-fA-F-]{36})\)\s*$")


class WebhookAccepted(BaseModel):
    accepted: int
    duplicates: int
    ignored: int


class WebhookEnvelope(BaseModel):
    data: WebhookAccepted


async def _owner(session: SessionDep, key: str | None) -> KeyOwner:
    owner = await find_key_owner(session, key) if key else None
    if owner is None:
        raise ApiError(ErrorType.AUTHENTICATION_ERROR, AUTH_MESSAGE)
    return owner


def _events(platform: str, body: Any, header_key: str | None) -> list[tuple[str | None, str, str, str]]:
    """(api key, entity type, native id, delivery key) of each change in a delivery."""
    out: list[tuple[str | None, str, str, str]] = []
    if platform == "procore":
        if not isinstance(body, dict) or "resource_id" not in body or "resource_name" not in body:
            raise ApiError(ErrorType.VALIDATION_ERROR, "expected a Procore event with resource_name and resource_id")
        entity = PROCORE_RESOURCES.get(str(body["resource_name"]).strip().lower().replace("_", " "))
        if entity is not None and body.get("event_type") != "delete":
            delivery = str(body.get("ulid") or body.get("id") or f"{body['resource_id']}|{body.get('timestamp')}")
            out.append((header_key, entity, str(body["resource_id"]), delivery))
        return out
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ApiError(ErrorType.VALIDATION_ERROR, 'expected a Business Central notification batch {"value": [...]}')
    for note in body["value"]:
        if not isinstance(note, dict) or note.get("changeType") not in ("created", "updated"):
            continue
        match = BC_RESOURCE.search(str(note.get("resource", "")))
        if match is None or match.group(1) not in BC_SETS:
            continue
        delivery = "|".join(
            str(note.get(k)) for k in ("subscriptionId", "resource", "changeType", "lastModifiedDateTime")
        )
        out.append((header_key or note.get("clientState"), BC_SETS[match.group(1)], match.group(2), delivery))
    return out


@router.post(
    "/webhooks/{platform}",
    status_code=202,
    response_model=WebhookEnvelope,
    responses={
        200: {
            "description": "Business Central validation handshake: the validationToken, as text/plain",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(ErrorType.VALIDATION_ERROR, ErrorType.AUTHENTICATION_ERROR, ErrorType.UNSUPPORTED_MEDIA_TYPE),
    },
    summary="Receive a platform webhook",
)
async def receive_webhook(
    platform: Literal["procore", "dynamics"],
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    body: dict[str, Any] | None = Body(default=None),
    validationToken: str | None = None,
) -> Response:
    if validationToken is not None and platform == "dynamics":
        return PlainTextResponse(validationToken)
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    header_key = credentials.credentials if credentials else None
    if platform == "procore":
        await _owner(session, header_key)  # unsigned events: the destination header is the credential
    events = _events(platform, body, header_key)
    received = len(body.get("value", [])) if platform == "dynamics" and isinstance(body, dict) else 1
    accepted = duplicates = 0
    for key, entity_type, native_id, delivery in events:
        owner = await _owner(session, key)
        inserted = (
            await session.execute(
                text(
                    "INSERT INTO webhook_deliveries (customer_id, platform, delivery_key) VALUES (:c, :p, :d) "
                    "ON CONFLICT DO NOTHING RETURNING 1"
                ),
                {"c": owner.customer_id, "p": platform, "d": delivery},
            )
        ).first()
        await session.commit()
        if inserted is None:
            duplicates += 1
            continue
        customer = str(owner.customer_id)
        digest = hashlib.sha256(delivery.encode()).hexdigest()[:20]
        await temporal.start_workflow(
            WebhookWorkflow.run,
            WebhookEvent(
                customer_id=customer,
                platform=platform,
                entity_type=entity_type,
                platform_id=native_id,
                delivery_key=delivery,
            ),
            id=f"webhook-{customer}-{platform}-{digest}",
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CUSTOMER_ID, customer), SearchAttributePair(PLATFORM, platform)]
            ),
        )
        accepted += 1
    # Deletes and resources we do not sync are acknowledged (a platform would otherwise retry them).
    ignored = max(0, received - len(events))
    return json_response({"data": {"accepted": accepted, "duplicates": duplicates, "ignored": ignored}}, status=202)
