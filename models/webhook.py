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


class CatchUpInput(BaseModel):
    """A platform announced changes to many records of a type without naming them."""

    customer_id: str
    platform: str
    entity_type: str
    delivery_key: str


class ChangedRecords(BaseModel):
    platform_ids: list[str]  # mapped records whose platform copy differs from the stored one
    read: int
    unmapped: int  # records the connection does not know (new since the connect)


class CatchUpResult(BaseModel):
    read: int
    changed: int
    unmapped: int


class WebhookResult(BaseModel):
    propagation_id: str | None = None
    reason: str
