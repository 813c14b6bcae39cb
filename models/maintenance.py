from __future__ import annotations

from pydantic import BaseModel


class PurgeRateLimitsInput(BaseModel):
    # Rows older than this are outside every window we use and can go.
    older_than_seconds: int = 3600


class PurgeRateLimitsResult(BaseModel):
    deleted: int


class MaintenanceInput(BaseModel):
    rate_limit_retention_seconds: int = 3600
    #: Events (the feed) and delivery attempts are kept this long (EVENT_RETENTION_DAYS, at least 30).
    event_retention_days: int = 30


class MaintenanceResult(BaseModel):
    rate_limit_rows_deleted: int
    events_deleted: int = 0
