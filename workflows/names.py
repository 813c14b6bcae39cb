"""Temporal names shared by the API, the worker and the CLI: task queues and search attributes.

Kept in one module so a rename is one edit and the UI filters in the README stay true.
"""

from __future__ import annotations

from enum import StrEnum

from temporalio.common import SearchAttributeKey


class TaskQueue(StrEnum):
    # Workflows and database-only activities (settings.task_queue may override it per deployment).
    MAIN = "structural-main"
    # Outbound platform calls get their own queues so each platform's rate limit is enforced
    # server-side (max_task_queue_activities_per_second) across every worker.
    PROCORE = "structural-procore"
    DYNAMICS = "structural-dynamics"


class SearchAttr(StrEnum):
    CUSTOMER_ID = "CustomerId"
    PLATFORM = "Platform"
    OUTCOME = "Outcome"


CUSTOMER_ID = SearchAttributeKey.for_keyword(SearchAttr.CUSTOMER_ID.value)
PLATFORM = SearchAttributeKey.for_keyword(SearchAttr.PLATFORM.value)
OUTCOME = SearchAttributeKey.for_keyword(SearchAttr.OUTCOME.value)

ALL_SEARCH_ATTRIBUTES = (CUSTOMER_ID, PLATFORM, OUTCOME)
