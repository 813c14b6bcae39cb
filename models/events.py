"""Workflow payloads of event delivery: one WebhookEndpointWorkflow per webhook endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class EndpointInput(BaseModel):
    customer_id: str
    endpoint_id: str


class DeliveryPass(BaseModel):
    """How one delivery pass ended: ``idle`` (delivered what there was; go on), ``retry`` (the head
    event failed: wait ``retry_in`` seconds), ``stop`` (the endpoint was deleted or disabled)."""

    outcome: Literal["idle", "retry", "stop"]
    delivered: int = 0
    retry_in: float = 0.0
    reason: str | None = None
