"""`structural` CLI: run the stack, run one component, manage customers and keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from platforms.registry import get_platform, is_platform, names
from settings import get_settings

app = typer.Typer(help="Structural: durable sync engine for construction finance data.", no_args_is_help=True)
customers_app = typer.Typer(help="Customers (tenants) and their API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
schedules_app = typer.Typer(
    help="Periodic re-seeds of a connected platform (Temporal Schedules).", no_args_is_help=True
)
app.add_typer(customers_app, name="customers")
app.add_typer(keys_app, name="keys")
sync_app = typer.Typer(
    help="Continuous sync of a live connection: status, a delta pass now, pause, resume.", no_args_is_help=True
)
app.add_typer(schedules_app, name="schedules")
app.add_typer(sync_app, name="sync")
conflicts_app = typer.Typer(help="The conflict queue: list, show and resolve conflicts.", no_args_is_help=True)
app.add_typer(conflicts_app, name="conflicts")
PlatformArg = Annotated[str, typer.Argument(help=f"The platform: {' or '.join(names())}")]
CustomerOpt = Annotated[uuid.UUID, typer.Option("--customer-id", help="The customer (tenant) id")]
console = Console()
T = TypeVar("T")


@app.command()
def run() -> None:
    """Start the whole stack in the foreground (embedded PostgreSQL, Temporal + UI, worker, API)."""
    from devstack.supervisor import run_stack

    raise typer.Exit(run_stack(get_settings()))


@app.command()
def status() -> None:
    """Health of the running service (database, Temporal, workers polling each task queue) and the
    processes `structural run` supervises, with their restarts. Exit code 1 when degraded."""
    import json
    from pathlib import Path

    import httpx
    from rich.table import Table

    settings = get_settings()
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "", "::") else settings.api_host
    url = f"http://{host}:{settings.api_port}/api/v1/health"
    healthy = False
    try:
        data = httpx.get(url, timeout=settings.health_timeout_seconds + 3).json()["data"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        console.print(f"[red]API not reachable at {url}: {exc}[/red]")
    else:
        healthy = data["status"] == "ok"
        colour = "green" if healthy else "red"
        console.print(f"status: [{colour}]{data['status']}[/{colour}]  ({url})")
        for check, value in data["checks"].items():
            console.print(f"  {check:<10} {value}")
        table = Table("task queue", "live pollers")
        for queue, count in data.get("pollers", {}).items():
            table.add_row(queue, str(count) if count else "[red]0[/red]")
        console.print(table)
    state = Path(settings.data_dir) / "stack.json"
    if state.exists():
        table = Table("process", "pid", "restarts", "state")
        for proc in json.loads(state.read_text())["processes"]:
            table.add_row(
                proc["name"], str(proc["pid"]), str(proc["restarts"]), "running" if proc["running"] else "restarting"
            )
        console.print(table)
    else:
        console.print(f"no `structural run` supervisor state in {state} (started another way, or not running)")
    raise typer.Exit(0 if healthy else 1)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default API_PORT)")] = None,
) -> None:
    """Run only the HTTP API (needs DATABASE_URL and a reachable Temporal)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.api_host, port=port or settings.api_port)


@app.command()
def worker() -> None:
    """Run only the Temporal worker (needs DATABASE_URL and a reachable Temporal)."""
    from worker import main

    main()


@app.command()
def emulator(
    name: PlatformArg,
    port: Annotated[int | None, typer.Option(help="Port (default: the platform's <NAME>_EMULATOR_PORT)")] = None,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
) -> None:
    """Run a platform API emulator (Procore REST or Business Central OData) seeded with the demo data."""
    from emulators.runner import emulator_names, run_emulator

    if name not in emulator_names():
        raise typer.BadParameter(" or ".join(emulator_names()), param_hint="NAME")
    default = get_platform(name).emulator_port(get_settings())
    run_emulator(name, host, port or default or 8100)


@app.command()
def migrate() -> None:
    """Apply database migrations to DATABASE_URL."""
    from store.migrate import upgrade

    upgrade(get_settings().require_database_url())
    console.print("[green]database is at the latest revision[/green]")


async def _with_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from store.engine import make_engine, make_sessionmaker

    engine = make_engine(get_settings().require_database_url(), pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


@customers_app.command("create")
def customers_create(
    name: Annotated[str, typer.Option(help="Customer name")],
    mode: Annotated[str, typer.Option(help="Key environment: test (staging) or live (production)")] = "test",
) -> None:
    """Create a customer with one API key; the key is printed once and never stored."""
    from store.customers import create_customer

    if mode not in ("test", "live"):
        raise typer.BadParameter("mode must be 'test' or 'live'", param_hint="--mode")
    created = asyncio.run(_with_session(lambda s: create_customer(s, name=name, environment=mode)))
    console.print(f"customer_id: {created.customer_id}")
    console.print(f"key_id:      {created.key_id}")
    console.print(f"api_key:     [bold]{created.api_key}[/bold]")
    console.print("[yellow]Store the key now: it is shown only once.[/yellow]")


@customers_app.command("set-rate-limit")
def customers_set_rate_limit(
    customer_id: uuid.UUID,
    per_minute: Annotated[int | None, typer.Argument(help="Requests per minute on /propagate; omit to reset")] = None,
) -> None:
    """Override the /propagate rate limit of one customer."""
    from store.customers import set_propagate_rate_limit

    asyncio.run(_with_session(lambda s: set_propagate_rate_limit(s, customer_id, per_minute)))
    console.print("ok")


@customers_app.command("delete")
def customers_delete(
    customer_id: uuid.UUID,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a customer with everything it owns: its webhook registrations on the platforms, its
    schedules, keys, connections, records and history."""
    from scheduling.disconnect import remove_customer

    if not yes:
        typer.confirm(f"Delete customer {customer_id} and all its data?", abort=True)
    settings = get_settings()

    async def go(session: AsyncSession) -> None:
        await remove_customer(session, await _temporal(), settings, customer_id)

    asyncio.run(_with_session(go))
    console.print("deleted")


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id (uuid) or its printed prefix, e.g. sk_test_AbCd")],
) -> None:
    """Revoke an API key; requests with it get 401 from now on."""
    from store.customers import revoke_key

    try:
        key_id: uuid.UUID | None = uuid.UUID(key)
    except ValueError:
        key_id = None
    count = asyncio.run(_with_session(lambda s: revoke_key(s, key_id=key_id, prefix=None if key_id else key)))
    if not count:
        console.print("[red]no active key matched[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {count} key(s)")


async def _temporal() -> Client:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    settings = get_settings()
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, data_converter=pydantic_data_converter
    )


def _check_platform(platform: str) -> None:
    if not is_platform(platform):
        raise typer.BadParameter(f"platform must be {' or '.join(names())}", param_hint="PLATFORM")


@app.command()
def connect(
    platform: PlatformArg,
    customer_id: CustomerOpt,
    dataset: Annotated[str, typer.Option(help="Sandbox data set: demo or synthetic:<payments>")] = "demo",
) -> None:
    """Connect (destructively re-seed) a platform for a customer, showing progress until it is done."""
    _check_platform(platform)
    asyncio.run(_connect(platform, customer_id, dataset))


async def _connect(platform: str, customer_id: uuid.UUID, dataset: str) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from models.connect import ConnectInput
    from platforms.sources import validate_dataset
    from scheduling.connect import ConnectConflict, start_connect
    from workflows.connect import ConnectWorkflow

    try:
        validate_dataset(dataset)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--dataset") from err
    client = await _temporal()
    params = ConnectInput(customer_id=str(customer_id), platform=platform, dataset=dataset, trigger="cli")
    try:
        handle = await start_connect(client, params, task_queue=get_settings().task_queue)
    except ConnectConflict as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(1) from err
    result_task = asyncio.ensure_future(handle.result())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} types"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"connect {platform}", total=5)
        while not result_task.done():
            try:
                state = await handle.query(ConnectWorkflow.progress)
                counts = ", ".join(f"{k} {v}" for k, v in state.counts.items())
                progress.update(bar, completed=state.done_types, description=f"{state.phase} [{counts}]")
            except Exception:  # the query can race the workflow's completion; the result tells
                pass
            await asyncio.wait({result_task}, timeout=0.5)
        progress.update(bar, completed=5)
    try:
        result = result_task.result()
    except Exception as err:
        console.print(f"[red]connect failed: {err}; see the Temporal UI for details, then connect again[/red]")
        raise typer.Exit(1) from err
    console.print(f"[green]{platform} connected[/green]: {result.entities}")


@schedules_app.command("create")
def schedules_create(
    platform: PlatformArg,
    customer_id: CustomerOpt,
    every: Annotated[int, typer.Option(help="Interval in seconds")] = 86400,
) -> None:
    """Re-seed PLATFORM every N seconds (skips a run while one is still going)."""
    from scheduling import reseed

    _check_platform(platform)
    settings = get_settings()

    async def go(session: AsyncSession) -> reseed.ReseedScheduleInfo:
        return await reseed.create(await _temporal(), session, customer_id, platform, every, settings.task_queue)

    try:
        info = asyncio.run(_with_session(go))
    except reseed.ScheduleExists as err:
        console.print(f"[red]a schedule for {platform} exists already[/red]")
        raise typer.Exit(1) from err
    console.print(f"created {info.schedule_id}; next run {info.next_run_at}")


@schedules_app.command("list")
def schedules_list(customer_id: CustomerOpt) -> None:
    """List a customer's re-seed schedules with their next run."""
    from rich.table import Table

    from scheduling import reseed

    async def go(session: AsyncSession) -> list[reseed.ReseedScheduleInfo]:
        return await reseed.list_for_customer(await _temporal(), session, customer_id)

    from rich.table import Column

    found = asyncio.run(_with_session(go))
    # Ids are what other commands take: never cut, whatever the terminal's width.
    width = max((len(i.schedule_id) for i in found), default=11)
    table = Table(Column("schedule id", no_wrap=True, min_width=width), "platform", "every (s)", "next run")
    for info in found:
        table.add_row(info.schedule_id, info.platform, str(info.interval_seconds), str(info.next_run_at or "-"))
    console.print(table)


@schedules_app.command("delete")
def schedules_delete(platform: PlatformArg, customer_id: CustomerOpt) -> None:
    """Delete the re-seed schedule of PLATFORM."""
    from scheduling import reseed

    async def go(session: AsyncSession) -> bool:
        return await reseed.delete_one(await _temporal(), session, customer_id, platform)

    if not asyncio.run(_with_session(go)):
        console.print("[red]no such schedule[/red]")
        raise typer.Exit(1)
    console.print("deleted")


def _sync_call(platform: str, call: Callable[[AsyncSession, Client], Awaitable[T]]) -> T:
    """Run a scheduling.sync use case; its refusal (no live connection, paused) is a clear exit 1."""
    from scheduling.sync import SyncError

    _check_platform(platform)

    async def go(session: AsyncSession) -> T:
        return await call(session, await _temporal())

    try:
        return asyncio.run(_with_session(go))
    except SyncError as err:
        console.print(f"[red]{err.message}[/red]")
        raise typer.Exit(1) from err


@app.command()
def disconnect(
    platform: PlatformArg,
    customer_id: CustomerOpt,
    force: Annotated[bool, typer.Option(help="Remove it even if the platform cannot be reached")] = False,
) -> None:
    """Remove a connection: its webhook registrations on the platform, its schedules, credentials,
    records and mappings (DELETE /api/v1/connections/{platform})."""
    from scheduling.disconnect import DisconnectError
    from scheduling.disconnect import disconnect as remove

    _check_platform(platform)
    settings = get_settings()

    async def go(session: AsyncSession) -> Any:
        return await remove(session, await _temporal(), settings, customer_id, platform, force=force)

    try:
        done = asyncio.run(_with_session(go))
    except DisconnectError as err:
        console.print(f"[red]{err.message}[/red]")
        raise typer.Exit(1) from err
    console.print(f"{platform} disconnected; {done.subscriptions_removed} subscriptions removed on the platform")
    if done.subscriptions_left:
        console.print(f"[yellow]{done.subscriptions_left}[/yellow]")


@sync_app.command("status")
def sync_status_command(customer_id: CustomerOpt) -> None:
    """Each live connection's sync: paused, subscriptions, last delta pass, lag, changes applied."""
    from rich.table import Table

    from scheduling.sync import sync_status
    from store.objects import list_active_connections

    async def go(session: AsyncSession) -> list[dict[str, Any]]:
        rows = await list_active_connections(session, customer_id)
        return [{"platform": r["platform"], **sync_status(r)} for r in rows if r["mode"] == "live"]

    table = Table("platform", "state", "subscriptions", "last pass", "lag (s)", "applied", "held", "last error")
    for row in asyncio.run(_with_session(go)):
        counts: dict[str, int] = {}
        for sub in row["subscriptions"]:
            counts[sub["status"]] = counts.get(sub["status"], 0) + 1
        last = row["last_pass"]
        table.add_row(
            str(row["platform"]),
            "paused" if row["paused"] else "syncing",
            ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none",
            str(last["finished_at"]) if last else "-",
            str(row["lag_seconds"] if row["lag_seconds"] is not None else "-"),
            str(row["changes_applied"]),
            str(row["held"]),
            str(row["last_error"] or ""),
        )
    console.print(table)


@sync_app.command("run")
def sync_run(platform: PlatformArg, customer_id: CustomerOpt) -> None:
    """Run a delta pass of PLATFORM now (joins the one running)."""
    from scheduling.sync import start_delta_pass

    queue = get_settings().task_queue
    workflow_id = _sync_call(platform, lambda s, t: start_delta_pass(s, t, customer_id, platform, queue))
    console.print(f"delta pass started: {workflow_id} (Temporal UI)")


@sync_app.command("pause")
def sync_pause(platform: PlatformArg, customer_id: CustomerOpt) -> None:
    """Stop the automatic sync of PLATFORM; notifications are held until resume."""
    from scheduling.sync import pause_sync

    _sync_call(platform, lambda s, t: pause_sync(s, t, customer_id, platform))
    console.print(f"{platform} sync paused")


@sync_app.command("resume")
def sync_resume(platform: PlatformArg, customer_id: CustomerOpt) -> None:
    """Restart the automatic sync of PLATFORM: held changes are applied, then a delta pass runs."""
    from scheduling.sync import resume_sync

    queue = get_settings().task_queue
    workflow_id = _sync_call(platform, lambda s, t: resume_sync(s, t, customer_id, platform, queue))
    console.print(f"{platform} sync resumed: {workflow_id}")


@app.command()
def verify(
    platform: PlatformArg,
    customer_id: CustomerOpt,
    repair: Annotated[bool, typer.Option(help="Follow every drifted record as a platform change")] = False,
    wait: Annotated[bool, typer.Option(help="Wait for the report and print its counts")] = True,
) -> None:
    """Compare every mapped record of PLATFORM with canonical: in sync, drifted, known, missing
    (POST /api/v1/connections/{platform}/verify)."""
    from rich.table import Table

    from models.verify import VerifyResult
    from scheduling.verify import start_verify

    queue = get_settings().task_queue

    async def go(session: AsyncSession, temporal: Client) -> tuple[str, VerifyResult | None]:
        run = await start_verify(session, temporal, customer_id, platform, queue, repair=repair)
        if not wait:
            return run, None
        return run, await temporal.get_workflow_handle(run, result_type=VerifyResult).result()

    run, result = _sync_call(platform, go)
    console.print(f"verify {run} (GET /api/v1/verify/{run}; Temporal UI)")
    if result is None:
        return
    table = Table("entity type", "checked", "in sync", "drifted", "known", "missing")
    for t in result.types:
        table.add_row(t.entity_type, *(str(n) for n in (t.checked, t.in_sync, t.drifted, t.known, t.missing)))
    console.print(table)
    if repair:
        console.print(f"{result.repaired} drifted records followed")


def _conflict_call(call: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run a propagation.conflicts use case on one connection; a refusal is a clear exit 1."""
    from propagation.service import PropagateError
    from store.engine import make_engine

    async def go() -> T:
        engine = make_engine(get_settings().require_database_url(), pool_size=2)
        try:
            async with engine.connect() as conn:
                return await call(conn, engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except PropagateError as err:
        console.print(f"[red]{err.message}[/red]")
        raise typer.Exit(1) from err


@conflicts_app.command("list")
def conflicts_list(
    customer_id: CustomerOpt,
    status: Annotated[str | None, typer.Option(help="open, resolved or stale")] = "open",
    platform: Annotated[str | None, typer.Option(help="Only this platform's")] = None,
) -> None:
    """The customer's conflicts, oldest first (GET /api/v1/conflicts)."""
    from rich.table import Table

    from propagation.conflicts import list_conflicts

    async def go(conn: Any, _: Any) -> list[dict[str, Any]]:
        items, _next = await list_conflicts(
            conn, customer_id, platform=platform, entity_type=None, status=status, after=0, limit=200
        )
        return items

    table = Table("id", "status", "entity", "platform", "fields", "canonical", "platform value", "opened")
    for c in _conflict_call(go):
        table.add_row(
            c["id"],
            c["status"],
            f"{c['entity_type']} {c['canonical_id']}",
            f"{c['platform']} {c['platform_id']}",
            ", ".join(c["fields"]),
            repr(c["canonical_values"]),
            repr(c["platform_values"]),
            str(c["opened_at"]),
        )
    console.print(table)


@conflicts_app.command("show")
def conflicts_show(conflict_id: Annotated[str, typer.Argument(help="The conflict's id (cfl_...)")], customer_id: CustomerOpt) -> None:
    """One conflict: both sides' values then and now (GET /api/v1/conflicts/{id})."""
    from propagation.conflicts import show

    console.print_json(data=_conflict_call(lambda conn, _: show(conn, customer_id, conflict_id)))


@conflicts_app.command("resolve")
def conflicts_resolve(
    conflict_id: Annotated[str, typer.Argument(help="The conflict's id (cfl_...)")],
    customer_id: CustomerOpt,
    keep: Annotated[str, typer.Option(help="canonical (write ours over theirs) or platform (take theirs)")],
    field: Annotated[
        list[str] | None, typer.Option(help="Per-field decision FIELD=canonical|platform (repeatable)")
    ] = None,
) -> None:
    """Resolve a conflict (POST /api/v1/conflicts/{id}/resolve), recorded as resolved by the CLI."""
    from api.ratelimit import WINDOW_SECONDS
    from propagation.conflicts import resolve

    if keep not in ("canonical", "platform"):
        raise typer.BadParameter("keep must be canonical or platform", param_hint="--keep")
    per_field: dict[str, Any] = {}
    for item in field or []:
        name, _, side = item.partition("=")
        if side not in ("canonical", "platform"):
            raise typer.BadParameter(f"{item!r}: expected FIELD=canonical or FIELD=platform", param_hint="--field")
        per_field[name] = side
    settings = get_settings()

    async def go(conn: Any, engine: Any) -> dict[str, Any]:
        return await resolve(
            conn,
            engine,
            customer_id,
            conflict_id,
            keep=keep,  # type: ignore[arg-type]
            per_field=per_field or None,
            by="cli",
            temporal=await _temporal(),
            task_queue=settings.task_queue,
            wait_seconds=settings.propagate_wait_seconds,
            rate_limit=settings.propagate_requests_per_minute,
            window_seconds=WINDOW_SECONDS,
        )

    done = _conflict_call(go)
    console.print(
        f"{conflict_id} resolved (keep {keep}); propagation {done['propagation']['propagation_id']}: "
        f"{done['propagation']['status']}"
    )


if __name__ == "__main__":
    app()
