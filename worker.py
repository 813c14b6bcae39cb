"""Worker process, the composition root: settings -> engine -> clients -> activity objects -> Workers.

Run with `structural worker` (or `python worker.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import py_compile
import signal
import socket
import sys
import uuid
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.connect import ConnectActivities
from activities.create import CreateActivities
from activities.delete import DeleteActivities
from activities.events import EventActivities
from activities.hand_on import HandOnActivities
from activities.maintenance import MaintenanceActivities
from activities.propagate import PropagateActivities
from activities.sync import SyncActivities
from activities.verify import VerifyActivities
from activities.webhook import WebhookActivities
from models.maintenance import MaintenanceInput
from platforms.live import Connectors
from platforms.registry import platforms
from scheduling.health import HEARTBEAT_EVERY
from scheduling.temporal_setup import ensure_search_attributes
from settings import Settings, get_settings
from store import workers as workers_q
from store.engine import make_engine, make_sessionmaker
from workflows.catch_up import CatchUpWorkflow
from workflows.connect import ConnectWorkflow
from workflows.create import CreateWorkflow
from workflows.delete import DeleteWorkflow
from workflows.delta import DeltaSyncWorkflow
from workflows.events import WebhookEndpointWorkflow, events_queue
from workflows.maintenance import MAINTENANCE_SCHEDULE_ID, MaintenanceWorkflow
from workflows.propagate import PropagateWorkflow, platform_queue
from workflows.reseed import ScheduledReseedWorkflow
from workflows.sync import ResumeSyncWorkflow, SubscriptionsWorkflow
from workflows.verify import VerifyWorkflow
from workflows.webhook import WebhookWorkflow

log = logging.getLogger("structural.worker")

WORKFLOWS: list[type] = [
    CatchUpWorkflow,
    ConnectWorkflow,
    CreateWorkflow,
    DeleteWorkflow,
    DeltaSyncWorkflow,
    MaintenanceWorkflow,
    PropagateWorkflow,
    ResumeSyncWorkflow,
    ScheduledReseedWorkflow,
    SubscriptionsWorkflow,
    VerifyWorkflow,
    WebhookEndpointWorkflow,
    WebhookWorkflow,
]


def write_workflow_bytecode(workflows: list[type]) -> None:
    """Write the bytecode of the workflow modules (and their packages) once.

    The sandbox imports a workflow's module afresh for every workflow run. Without bytecode on disk
    (an editable install under PYTHONDONTWRITEBYTECODE, as `make run` and the tests use) each run
    compiles the module's source again: a tenth of the worker's CPU in bench/propagate.
    py_compile writes regardless of that setting; on a read-only tree nothing changes (installed
    packages have their bytecode from pip)."""
    files: set[str] = set()
    for cls in workflows:
        name = cls.__module__
        while name:
            source = getattr(sys.modules.get(name), "__file__", None)
            if source and source.endswith(".py"):
                files.add(source)
            name = name.rpartition(".")[0]
    for source in sorted(files):
        with contextlib.suppress(OSError, py_compile.PyCompileError):
            py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)


async def connect_temporal(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def build_workers(client: Client, engine: AsyncEngine, settings: Settings, connectors: Connectors) -> list[Worker]:
    """All workers of this process (tests call this too, so they run the production wiring)."""
    write_workflow_bytecode(WORKFLOWS)
    task_queue = settings.task_queue
    sessionmaker = make_sessionmaker(engine)
    maintenance = MaintenanceActivities(sessionmaker)
    connect = ConnectActivities(engine, sessionmaker, connectors)
    propagate = PropagateActivities(engine, connectors)
    creates = CreateActivities(engine, connectors)
    deletes = DeleteActivities(engine, connectors)
    webhooks = WebhookActivities(
        engine, sessionmaker, connectors, sweep_every=timedelta(seconds=settings.delete_sweep_interval_seconds)
    )
    sync = SyncActivities(sessionmaker, connectors, settings)
    verify = VerifyActivities(engine, connectors)
    events = EventActivities(engine, settings)
    hand_on = HandOnActivities(client, task_queue)
    # Live platform calls: one queue per platform, rate limited for the whole fleet by the server.
    platform_workers = [
        Worker(
            client,
            task_queue=platform_queue(task_queue, platform),
            activities=[propagate.fan_out, creates.create_on_target, deletes.delete_on_target],
            max_task_queue_activities_per_second=rate,
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        for platform, rate in ((p.name, p.requests_per_second(settings)) for p in platforms())
    ]
    main = Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            maintenance.purge_rate_limit_hits,
            maintenance.purge_events,
            connect.begin_connect,
            connect.seed_entities,
            connect.reconcile_entities,
            connect.activate_connection,
            connect.fail_connection,
            propagate.apply_canonical_update,
            propagate.mirror_source,
            propagate.fan_out,
            propagate.record_outcome,
            creates.store_object,
            creates.plan_create,
            creates.create_on_target,
            creates.record_create,
            creates.give_up_create,
            deletes.tombstone,
            deletes.delete_on_target,
            deletes.record_delete,
            webhooks.fetch_change,
            webhooks.find_changed,
            webhooks.delta_changes,
            webhooks.save_watermark,
            webhooks.sweep_deleted,
            hand_on.hand_on,
            sync.check_subscriptions,
            sync.held_changes,
            sync.release_held,
            sync.record_delta_pass,
            verify.start_verify,
            verify.verify_type,
            verify.finish_verify,
            verify.fail_verify,
        ],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    # Event delivery: one long-running pass per webhook endpoint, on its own queue so that endpoints
    # (however many, however slow) never take the main queue's activity slots.
    deliveries = Worker(
        client,
        task_queue=events_queue(task_queue),
        activities=[events.deliver],
        max_concurrent_activities=settings.webhook_max_endpoints_per_worker,
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
    return [main, *platform_workers, deliveries]


async def heartbeat(engine: AsyncEngine, task_queue: str) -> None:
    """Beat every HEARTBEAT_EVERY seconds until cancelled, then say goodbye (a clean stop is not an
    outage). A beat that fails (the database is down) is retried at the next one."""
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        while True:
            try:
                async with engine.begin() as conn:
                    await workers_q.beat(conn, worker_id, task_queue, socket.gethostname(), os.getpid())
            except (OSError, SQLAlchemyError) as exc:
                log.warning("worker heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_EVERY)
    finally:
        with contextlib.suppress(OSError, SQLAlchemyError):
            async with engine.begin() as conn:
                await workers_q.forget(conn, worker_id)


async def ensure_maintenance_schedule(client: Client, task_queue: str, event_retention_days: int = 30) -> None:
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(
            MAINTENANCE_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    MaintenanceWorkflow.run,
                    MaintenanceInput(event_retention_days=event_retention_days),
                    id=MAINTENANCE_SCHEDULE_ID,
                    task_queue=task_queue,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=15))]),
                policy=SchedulePolicy(),
            ),
        )


async def serve(settings: Settings) -> None:
    engine = make_engine(settings.require_database_url(), pre_ping=False)
    client = await connect_temporal(settings)
    added = await ensure_search_attributes(client, settings.temporal_namespace)
    if added:
        log.info("registered search attributes: %s", ", ".join(added))
    await ensure_maintenance_schedule(client, settings.task_queue, settings.event_retention_days)
    connectors = Connectors(settings)
    workers = build_workers(client, engine, settings, connectors)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.TaskGroup() as tg:
            for w in workers:
                tg.create_task(w.run())
            beating = tg.create_task(heartbeat(engine, settings.task_queue))
            log.info("worker polling %s", ", ".join(w.task_queue for w in workers))
            await stop.wait()
            for w in workers:
                tg.create_task(w.shutdown())
            beating.cancel()
    finally:
        await connectors.close()
        await engine.dispose()


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
