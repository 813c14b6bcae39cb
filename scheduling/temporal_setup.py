"""Start-up chores against the Temporal server (not activities: run by the worker at boot)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client

from workflows.names import ALL_SEARCH_ATTRIBUTES


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register our custom search attributes if missing; returns the names it added.

    Idempotent, so every worker may call it at start-up, on the dev server and on a real cluster.
    """
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in ALL_SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
