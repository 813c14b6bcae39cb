"""Webhook intake: a platform's change notification becomes a WebhookWorkflow per changed record.

The platform's descriptor reads the delivery (``Platform.webhooks``); here each change is
authenticated by the credential it carries (the connection's webhook secret, which the engine
registered with the subscription: Procore's destination header, BC's clientState), recorded once
(``store.webhooks``) and handed to a WebhookWorkflow (fetch the record, propagate it in platform
mode), or held while the connection's sync is paused. Platforms time out quickly (Procore after
5 s) and retry, so nothing slow happens before the answer.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.webhook import CatchUpInput, WebhookEvent
from platforms.descriptor import WebhookEvent as Notice
from platforms.descriptor import WebhookShapeError
from platforms.registry import get_platform
from store.connections import sync_state, webhook_connection
from store.credentials import webhook_secret_hash
from store.webhooks import record_delivery
from workflows.catch_up import CatchUpWorkflow, catch_up_workflow_id, webhook_workflow_id
from workflows.names import customer_platform
from workflows.webhook import WebhookWorkflow

log = logging.getLogger("structural.webhooks")


class Unauthenticated(Exception):
    """A delivery (or one of its notifications) carries no valid webhook secret."""


@dataclass(frozen=True)
class Intake:
    accepted: int
    duplicates: int
    ignored: int


async def _owner(session: AsyncSession, secret: str | None, platform: str) -> uuid.UUID:
    """The customer whose connection to ``platform`` the secret belongs to."""
    customer = await webhook_connection(session, webhook_secret_hash(secret), platform) if secret else None
    if customer is None:
        raise Unauthenticated
    return customer


async def take_in(
    session: AsyncSession, temporal: Client, *, platform: str, body: Any, header_key: str | None, task_queue: str
) -> Intake:
    """Start a WebhookWorkflow for every new change in the delivery (a CatchUpWorkflow for a
    collection event). Raises Unauthenticated, or ``WebhookShapeError`` for a body the platform does
    not send (nothing recorded then). A platform that deletes its subscription when a delivery is
    refused (``Webhooks.acknowledge_unusable``) never gets either: a body it would not send, or a
    notification without a valid credential, is skipped and logged, and changes nothing."""
    webhooks = get_platform(platform).webhooks
    if webhooks.requires_header_key:
        await _owner(session, header_key, platform)  # unsigned events: the destination header is the credential
    try:
        delivery = webhooks.parse(body, header_key)
    except WebhookShapeError as err:
        if not webhooks.acknowledge_unusable:
            raise
        # Refusing would make the platform delete its subscription: acknowledge, change nothing.
        log.warning("unusable %s delivery acknowledged: %s", platform, err)
        return Intake(accepted=0, duplicates=0, ignored=1)
    accepted = duplicates = refused = 0
    paused: dict[uuid.UUID, bool] = {}
    for event in delivery.events:
        try:
            customer = await _owner(session, event.api_key, platform)
        except Unauthenticated:
            if not webhooks.acknowledge_unusable:
                raise
            log.warning("%s notification without a valid credential ignored (%s)", platform, event.entity_type)
            refused += 1
            continue
        if customer not in paused:
            paused[customer] = bool((await sync_state(session, customer, platform)).get("paused"))
        # Paused: recorded with the change it announces, started on resume (acknowledged, never lost).
        held = _held(event) if paused[customer] else None
        new = await record_delivery(session, customer, platform, event.delivery_key, held=held)
        await session.commit()
        # A repeat (a platform's retry) is started too: a change whose workflow never started (our
        # start failed after the record: the platform saw a 5xx) or failed starts now; one that runs
        # or ran is left alone (start_change).
        if held is None:
            await start_change(temporal, str(customer), platform, event, task_queue)
        if new:
            accepted += 1
        else:
            duplicates += 1
    # Deletes and resources we do not sync are acknowledged (a platform would otherwise retry them).
    return Intake(
        accepted=accepted, duplicates=duplicates, ignored=max(0, delivery.received - len(delivery.events)) + refused
    )


def _held(event: Notice) -> dict[str, Any]:
    return {
        "entity_type": event.entity_type,
        "platform_id": event.platform_id,
        "delivery_key": event.delivery_key,
        "collection": event.collection,
    }


def held_notice(held: dict[str, Any]) -> Notice:
    """A held change as the notice it came in as (the credential was checked when it arrived)."""
    return Notice(None, held["entity_type"], held["platform_id"], held["delivery_key"], bool(held.get("collection")))


async def start_change(temporal: Client, customer: str, platform: str, event: Notice, task_queue: str) -> None:
    """Hand an announced change to its WebhookWorkflow (a collection to a CatchUpWorkflow), once: a
    repeat joins the one running (same id), leaves one that completed alone, and starts again one
    that failed."""
    attributes = customer_platform(customer, platform)
    try:
        if event.collection:
            # One catch-up per burst: repeats of the same notification join the running one.
            await temporal.start_workflow(
                CatchUpWorkflow.run,
                CatchUpInput(
                    customer_id=customer, platform=platform, entity_type=event.entity_type, delivery_key=event.delivery_key
                ),
                id=catch_up_workflow_id(customer, platform, event.delivery_key),
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                search_attributes=attributes,
            )
            return
        await temporal.start_workflow(
            WebhookWorkflow.run,
            WebhookEvent(
                customer_id=customer,
                platform=platform,
                entity_type=event.entity_type,
                platform_id=event.platform_id,
                delivery_key=event.delivery_key,
            ),
            id=webhook_workflow_id(customer, platform, event.delivery_key),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=attributes,
        )
    except WorkflowAlreadyStartedError:
        pass  # completed before: this change was followed
