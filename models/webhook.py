from __future__ import annotations

from pydantic import BaseModel

from models.propagate import PropagateInput


class WebhookEvent(BaseModel):
    customer_id: str
    platform: str
    entity_type: str
    platform_id: str
    delivery_key: str


class FetchChangeResult(BaseModel):
    propagate: PropagateInput | None = None
    reason: str


class WebhookResult(BaseModel):
    propagation_id: str | None = None
    reason: str
