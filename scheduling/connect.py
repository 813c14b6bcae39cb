"""The connect use case: configure a connection and run its ConnectWorkflow (`POST /connect`), and
starting a ConnectWorkflow (shared by the API, the CLI and schedules)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from canonical.entities import SYNCED_ENTITY_TYPES
from canonical.errors import ServiceError
from canonical.models import model_for
from models.connect import ConnectInput, ConnectResult
from platforms.registry import get_platform, names, others
from propagation.logic import NOT_PROPAGATED
from propagation.rules import check_directions, check_rules
from scheduling.sync import ensure_sync
from settings import Settings
from store.connections import configure, set_options, set_sandbox_outage
from store.credentials import encrypt, new_webhook_secret
from workflows.connect import ConnectWorkflow, connect_workflow_id
from workflows.names import customer_platform


class ConnectConflict(Exception):
    """A connect for this customer is already running (same platform, or the other one)."""


async def is_running(client: Client, workflow_id: str) -> bool:
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING


async def start_connect(
    client: Client, params: ConnectInput, *, task_queue: str
) -> WorkflowHandle[ConnectWorkflow, ConnectResult]:
    # Two platforms seeding at once could each reconcile against a not-yet-active other side and
    # miss links, so connects of one customer run one at a time.
    for other in others(params.platform):
        if await is_running(client, connect_workflow_id(params.customer_id, other)):
            raise ConnectConflict(f"A connect for {other} is running for this customer; retry when it ends")
    try:
        return await client.start_workflow(
            ConnectWorkflow.run,
            params,
            id=connect_workflow_id(params.customer_id, params.platform),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=customer_platform(params.customer_id, params.platform),
            static_summary=f"Connect {params.platform} for customer {params.customer_id} ({params.trigger})",
        )
    except WorkflowAlreadyStartedError as err:
        raise ConnectConflict(f"A connect for {params.platform} is already running") from err


class ConnectError(ServiceError):
    """A connect request that cannot run as sent."""


@dataclass(frozen=True)
class ConnectRequest:
    """A connect as the API received it. ``live``: the live settings, credentials included."""

    customer_id: uuid.UUID
    key_mode: str  # demo keys may not connect live accounts
    platform: str
    mode: Literal["sandbox", "live"]
    live: Mapping[str, Any] | None
    delete_policy: str | None = None  # None: keep the connection's (tombstone_only for a new one)
    rules: Mapping[str, Any] | None = None  # conflict rules per entity type (None: keep the connection's)
    directions: Mapping[str, Any] | None = None  # sync direction per entity type (None: keep)


async def connect_platform(
    session: AsyncSession, temporal: Client, settings: Settings, request: ConnectRequest
) -> ConnectResult:
    """Configure the connection (live credentials stored encrypted), run a ConnectWorkflow and wait
    for it (up to CONNECT_WAIT_SECONDS)."""
    live: dict[str, Any] | None = None
    secret: bytes | None = None
    webhook_secret: tuple[bytes, str] | None = None
    if request.mode == "live":
        if request.key_mode == "demo":
            raise ConnectError("forbidden", "Demo keys cannot create live connections")
        if request.live is None:
            raise ConnectError("validation", "settings are required when mode is live")
        if not settings.base_url_allowed(request.live["base_url"]):
            raise ConnectError(
                "forbidden", "settings.base_url is not on this deployment's allow-list (LIVE_BASE_URL_ALLOWLIST)"
            )
        if request.live.get("auth_url") and not settings.base_url_allowed(request.live["auth_url"]):
            raise ConnectError(
                "forbidden", "settings.auth_url is not on this deployment's allow-list (LIVE_BASE_URL_ALLOWLIST)"
            )
        missing = get_platform(request.platform).live_settings.missing_message(request.live)
        if missing:
            raise ConnectError("validation", missing)
        live = {k: v for k, v in request.live.items() if k not in ("client_id", "client_secret")}
        secret = encrypt(
            settings, {"client_id": request.live["client_id"], "client_secret": request.live["client_secret"]}
        )
        # The credential the platform's notifications will carry (kept if the connection has one).
        _, encrypted, digest = new_webhook_secret(settings)
        webhook_secret = (encrypted, digest)
    elif request.live is not None:
        raise ConnectError("validation", "settings are only accepted when mode is live")
    options = connection_options(
        delete_policy=request.delete_policy, rules=request.rules, directions=request.directions
    )
    customer = str(request.customer_id)
    if await is_running(temporal, connect_workflow_id(customer, request.platform)):
        raise ConnectError("conflict", f"A connect for {request.platform} is already running")
    await configure(
        session,
        request.customer_id,
        request.platform,
        mode=request.mode,
        live=live,
        credentials=secret,
        webhook_secret=webhook_secret,
        options=options,
    )
    await session.commit()
    try:
        handle = await start_connect(
            temporal,
            ConnectInput(customer_id=customer, platform=request.platform, mode=request.mode),
            task_queue=settings.task_queue,
        )
    except ConnectConflict as err:
        raise ConnectError("conflict", str(err)) from err
    try:
        result = await asyncio.wait_for(handle.result(), settings.connect_wait_seconds)
    except TimeoutError as err:
        raise ConnectError(
            "unavailable",
            f"Connect of {request.platform} is still running after {settings.connect_wait_seconds:.0f}s "
            "(are workers running?); it continues in the background, see GET /connections.",
        ) from err
    except WorkflowFailureError as err:
        # The cause (visible in the Temporal UI) may hold SQL or platform internals: not for callers.
        raise ConnectError(
            "unavailable",
            f"Connect of {request.platform} failed; the connection stays hidden until a connect succeeds. "
            "Connect again to repair it.",
        ) from err
    if request.mode == "live":
        # A live connection keeps itself up to date from now on (webhooks, delta passes).
        await ensure_sync(temporal, settings, request.customer_id, request.platform)
    return result


def connection_options(
    *, delete_policy: str | None, rules: Mapping[str, Any] | None, directions: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The connection options given, checked (ConnectError names what is wrong)."""
    fields_of = {t: [f for f in model_for(t).model_fields if f not in NOT_PROPAGATED] for t in SYNCED_ENTITY_TYPES}
    problem = (check_rules(rules, names(), fields_of) if rules is not None else None) or (
        check_directions(directions, names(), fields_of) if directions is not None else None
    )
    if problem:
        raise ConnectError("validation", problem)
    options: dict[str, Any] = {}
    if delete_policy:
        options["delete_policy"] = delete_policy
    if rules is not None:
        options["rules"] = dict(rules)
    if directions is not None:
        options["directions"] = dict(directions)
    return options


async def update_connection(
    session: AsyncSession,
    customer_id: uuid.UUID,
    platform: str,
    *,
    delete_policy: str | None,
    rules: Mapping[str, Any] | None = None,
    directions: Mapping[str, Any] | None = None,
    sandbox_fail_writes: int | None = None,
) -> None:
    """Change an active connection's options without reconnecting (PATCH /connections/{platform}).
    ``sandbox_fail_writes``: a sandbox connection's next N write attempts fail (a simulated outage)."""
    options = connection_options(delete_policy=delete_policy, rules=rules, directions=directions)
    if not options and sandbox_fail_writes is None:
        raise ConnectError(
            "validation", "nothing to change: send delete_policy, rules, directions or sandbox_fail_writes"
        )
    if options and not await set_options(session, customer_id, platform, options):
        raise ConnectError("not_found", f"No active {platform} connection")
    if sandbox_fail_writes is not None:
        mode = await set_sandbox_outage(session, customer_id, platform, sandbox_fail_writes)
        if mode is None:
            raise ConnectError("not_found", f"No active {platform} connection")
        if mode != "sandbox":
            raise ConnectError(
                "conflict", f"sandbox_fail_writes simulates an outage of a sandbox connection; {platform} is {mode}"
            )
    await session.commit()
