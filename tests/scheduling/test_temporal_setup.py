"""The worker's start-up chore against a real Temporal server: search attributes registered once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from scheduling.temporal_setup import ensure_search_attributes
from workflows.names import ALL_SEARCH_ATTRIBUTES


async def test_search_attributes_are_added_once_per_namespace(temporal_client: Client) -> None:
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    retention = Duration()
    retention.FromTimedelta(timedelta(days=1))
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
    )
    names = sorted(key.name for key in ALL_SEARCH_ATTRIBUTES)
    assert await ensure_search_attributes(temporal_client, namespace) == names
    assert await ensure_search_attributes(temporal_client, namespace) == []  # idempotent: every worker calls it
    listed = await temporal_client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert set(names) <= set(listed.custom_attributes)
