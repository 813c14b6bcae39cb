"""`structural` CLI: run the stack, run one component, manage customers and keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from settings import get_settings

app = typer.Typer(help="Structural: durable sync engine for construction finance data.", no_args_is_help=True)
customers_app = typer.Typer(help="Customers (tenants) and their API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")
app.add_typer(keys_app, name="keys")
console = Console()
T = TypeVar("T")


@app.command()
def run() -> None:
    """Start the whole stack in the foreground (embedded PostgreSQL, Temporal + UI, worker, API)."""
    from devstack.supervisor import run_stack

    raise typer.Exit(run_stack(get_settings()))


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


if __name__ == "__main__":
    app()
