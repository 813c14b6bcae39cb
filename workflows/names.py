"""Temporal names shared by the API, the worker and the CLI: search attributes.

Task queues come from settings (TASK_QUEUE) and, per platform, from `workflows.propagate.platform_queue`.

Kept in one module so a rename is one edit and the UI filters in the README stay true.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from temporalio.common import (
    Priority,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)


class SearchAttr(StrEnum):
    CUSTOMER_ID = "CustomerId"
    PLATFORM = "Platform"
    OUTCOME = "Outcome"


CUSTOMER_ID = SearchAttributeKey.for_keyword(SearchAttr.CUSTOMER_ID.value)
PLATFORM = SearchAttributeKey.for_keyword(SearchAttr.PLATFORM.value)
OUTCOME = SearchAttributeKey.for_keyword(SearchAttr.OUTCOME.value)

ALL_SEARCH_ATTRIBUTES = (CUSTOMER_ID, PLATFORM, OUTCOME)

# What is handed on in bulk (a pass's, a burst's, a repair's, a resume's records) runs below the
# default priority (3), and so does all it starts: a live webhook and the passes themselves go first.
HANDED_ON = Priority(priority_key=4)


def customer_platform(customer_id: str, platform: str) -> TypedSearchAttributes:
    """The search attributes of a workflow or schedule about one customer's platform."""
    return TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer_id), SearchAttributePair(PLATFORM, platform)])


def delta_workflow_id(customer_id: str, platform: str) -> str:
    """One delta pass at a time per connection: a pass asked for while one runs joins it."""
    return f"delta-{customer_id}-{platform}"


def webhook_workflow_id(customer_id: str, platform: str, delivery_key: str) -> str:
    """The WebhookWorkflow id of one announced change (the intake, a catch-up, a delta pass and a
    conflict rule use the same: one workflow per change)."""
    return f"webhook-{customer_id}-{platform}-{hashlib.sha256(delivery_key.encode()).hexdigest()[:20]}"


def handed_on(customer_id: str, platform: str, entity_type: str, platform_id: str, delivery_key: str, how: str) -> dict[str, Any]:
    """How a record handed on in bulk starts its WebhookWorkflow, as a child or from the hand-on
    activity: one workflow per change, its customer and platform, low priority."""
    return {
        "id": webhook_workflow_id(customer_id, platform, delivery_key),
        # A change followed before (running or done) is not followed again; one whose workflow failed is.
        "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        "search_attributes": customer_platform(customer_id, platform),
        "static_summary": f"{platform} {entity_type} {platform_id} ({how})",
        "priority": HANDED_ON,
    }
