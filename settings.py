"""Process configuration, read from the environment (and an optional `.env`).

One `Settings` object is built per process by `get_settings()`; everything else receives it as
an argument so tests can build their own without touching the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Unset -> `structural run` starts an embedded PostgreSQL under DATA_DIR and exports the URL
    # to its children; API/worker processes started on their own then require it.
    database_url: str | None = Field(default=None, description="postgresql+psycopg:// URL")
    temporal_address: str = Field(default="localhost:7233", description="host:port of Temporal frontend")
    temporal_namespace: str = "default"
    # Workflows and database activities; separate deployments (or tests) can use their own queue.
    task_queue: str = "structural-main"
    # When TEMPORAL_ADDRESS is not set explicitly `structural run` starts the dev server itself (also
    # when TEMPORAL_DEV_SERVER is true: then on TEMPORAL_ADDRESS's port).
    temporal_dev_server: bool = False
    temporal_ui_port: int = 8233

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    cors_origin: str = Field(default="*", description="Comma-separated allowed origins, or *")

    data_dir: Path = PROJECT_ROOT / ".data"

    # Edge limits of every request body (checked before any route reads it): larger -> 413, JSON
    # nested deeper -> 400.
    max_request_body_bytes: int = Field(1 << 20, ge=1024)
    max_json_depth: int = Field(64, ge=8)

    demo_sessions_per_minute: int = 5
    propagate_requests_per_minute: int = 300

    # Bounded waits for dependency probes, so /health answers even when a dependency hangs.
    health_timeout_seconds: float = 2.0

    # Live mode. Fernet key for platform credentials at rest (unset: a local key file in DATA_DIR).
    credentials_key: str | None = None
    # Base URLs (scheme://host:port prefixes) live connections may use; the emulators by default.
    live_base_url_allowlist: str = (
        "http://127.0.0.1:8101,http://localhost:8101,http://127.0.0.1:8102,http://localhost:8102"
    )
    # Live writes per second per platform, for the whole worker fleet (Procore: 3600/h with a
    # 10 s spike window; Business Central: 6000 per 5 min per user).
    procore_requests_per_second: float = 5.0
    dynamics_requests_per_second: float = 15.0
    procore_emulator_port: int = 8101
    dynamics_emulator_port: int = 8102

    # How often a live connection's delta pass runs on its Temporal Schedule (0: only on demand).
    delta_sync_interval_seconds: int = Field(300, ge=0)
    # How often a delta pass also sweeps for deleted records (reads every record id of the
    # connection: neither platform's change feed names deletes); 0: every pass. Webhooks report
    # deletes at once; the sweep catches the ones they missed.
    delete_sweep_interval_seconds: int = Field(3600, ge=0)
    # How often a live connection is verified (every mapped record compared with canonical) on its
    # own Temporal Schedule; 0 (default): only on demand. A verify reads all of the connection's data.
    verify_interval_seconds: int = Field(0, ge=0)
    # Where the platforms send change notifications: this API's public base URL (the engine
    # registers `{PUBLIC_BASE_URL}/api/v1/webhooks/{platform}`). Unset: the local API
    # (http://API_HOST:API_PORT), which the emulators under `make run` reach; the real platforms
    # need a public https URL. Whatever webhooks miss, the delta pass still brings over.
    public_base_url: str | None = None
    # How often a live connection's subscriptions are checked: missing ones re-created, Business
    # Central's renewed before their 3-day expiry (0: only after a connect).
    subscription_check_interval_seconds: int = Field(3600, ge=0)

    # Shortest re-seed interval a customer may schedule (a re-seed is a full destructive connect).
    reseed_min_interval_seconds: int = 300

    # How long POST /connect waits for its workflow before answering (the workflow goes on).
    connect_wait_seconds: float = 300.0

    # How long POST /propagate waits for the first fan-out pass before answering.
    propagate_wait_seconds: float = 30.0

    # Events to API callers (GET /events, webhook endpoints). Kept at least this long.
    event_retention_days: int = Field(30, ge=30)
    # Webhook endpoint URLs must be https and resolve to public addresses; these hosts (comma
    # separated) may also be http and local, for development (a receiver on this machine). Empty
    # by default: a customer's endpoint must never reach the services beside the worker.
    # `structural run` allows localhost,127.0.0.1 for its children unless set.
    webhook_allowed_hosts: str = ""
    # Seconds to wait before each retry of a failed delivery (the last repeats); a 429 or 503 with
    # Retry-After waits that long instead. An endpoint still failing after
    # WEBHOOK_DISABLE_AFTER_SECONDS (3 days) is disabled and `webhook_endpoint.disabled` recorded.
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000"
    webhook_disable_after_seconds: float = Field(259200, gt=0)
    # One delivery attempt's time limit (connect + answer); a timeout is a failed attempt.
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # A delta pass starting this long after the previous one records `sync.lagging` (0: never).
    sync_lagging_after_seconds: int = Field(1800, ge=0)
    # Delivery passes one worker runs at once (one per enabled endpoint; idle ones wait cheaply).
    webhook_max_endpoints_per_worker: int = Field(500, ge=1)
    # After a rotation, the previous signing secret stays valid (deliveries carry both signatures).
    webhook_secret_grace_seconds: int = Field(86400, ge=0)

    log_level: str = "info"

    @property
    def webhook_base_url(self) -> str:
        """The base URL the platforms call back (``PUBLIC_BASE_URL``, or the local API)."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "", "::") else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def webhook_retry_delays(self) -> list[float]:
        return [float(v) for v in self.webhook_retry_schedule.split(",") if v.strip()] or [5.0]

    @property
    def webhook_hosts(self) -> set[str]:
        return {h.strip().lower() for h in self.webhook_allowed_hosts.split(",") if h.strip()}

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origin.split(",") if o.strip()]

    @property
    def live_allowlist(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.live_base_url_allowlist.split(",") if u.strip()]

    def base_url_allowed(self, url: str) -> bool:
        url = url.rstrip("/")
        return any(url == allowed or url.startswith(allowed + "/") for allowed in self.live_allowlist)

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "DATABASE_URL is not set. Start the whole stack with `make run` (embedded PostgreSQL), "
                "or point DATABASE_URL at a PostgreSQL server."
            )
        return self.database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
