"""The `structural` CLI against the real database: create a customer, use its key, revoke it."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from settings import get_settings
from tests.fixtures.net import auth


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()


def test_create_customer_then_revoke(cli_env: None, live_server: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["customers", "create", "--name", "Acme Builders", "--mode", "live"])
    assert result.exit_code == 0, result.output
    key = re.search(r"(sk_live_[A-Za-z0-9]+)", result.output).group(1)  # type: ignore[union-attr]

    # the key works: authenticated (403 because a live key cannot end a demo session), not 401
    assert httpx.delete(f"{live_server}/api/v1/demo/session", headers=auth(key)).status_code == 403

    result = runner.invoke(cli, ["keys", "revoke", key[:12]])
    assert result.exit_code == 0, result.output
    assert "revoked 1" in result.output
    assert httpx.delete(f"{live_server}/api/v1/demo/session", headers=auth(key)).status_code == 401

    again = runner.invoke(cli, ["keys", "revoke", key[:12]])
    assert again.exit_code == 1


def test_rejects_demo_mode(cli_env: None) -> None:
    result = CliRunner().invoke(cli, ["customers", "create", "--name", "x", "--mode", "demo"])
    assert result.exit_code != 0


def test_help_lists_commands(cli_env: Any) -> None:
    result = CliRunner().invoke(cli, ["--help"])
    for command in ("run", "api", "worker", "migrate", "customers", "keys", "connect", "schedules", "sync"):
        assert command in result.output


@pytest.fixture
def cli_temporal_env(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", settings.temporal_address)
    monkeypatch.setenv("TASK_QUEUE", settings.task_queue)
    monkeypatch.setenv("COLUMNS", "200")  # rich would wrap the long schedule id otherwise
    get_settings.cache_clear()


@pytest.mark.usefixtures("worker", "cli_temporal_env")
async def test_connect_with_progress_and_schedules(sessionmaker: Any) -> None:
    from store.customers import create_customer

    async with sessionmaker() as session:
        created = await create_customer(session, name="cli-connect", environment="test")
        await session.commit()
    customer = str(created.customer_id)
    runner = CliRunner()

    # The worker runs on this event loop: the CLI (which runs its own loop) goes to a thread.
    result = await asyncio.to_thread(runner.invoke, cli, ["connect", "procore", "--customer-id", customer])
    assert result.exit_code == 0, result.output
    assert "procore connected" in result.output and "'payments': 8" in result.output

    result = await asyncio.to_thread(runner.invoke, cli, ["schedules", "create", "procore", "--customer-id", customer,
                                                          "--every", "3600"])
    assert result.exit_code == 0, result.output
    result = await asyncio.to_thread(runner.invoke, cli, ["schedules", "list", "--customer-id", customer])
    assert f"reseed-{customer}-procore" in result.output
    result = await asyncio.to_thread(runner.invoke, cli, ["schedules", "delete", "procore", "--customer-id", customer])
    assert result.exit_code == 0 and "deleted" in result.output

    bad = await asyncio.to_thread(runner.invoke, cli, ["connect", "sap", "--customer-id", customer])
    assert bad.exit_code != 0


@pytest.mark.usefixtures("worker", "cli_temporal_env")
async def test_sync_verbs_pause_show_and_resume_a_live_connection(sessionmaker: Any, live: str) -> None:
    from store.customers import find_key_owner

    async with sessionmaker() as session:
        owner = await find_key_owner(session, live)
    assert owner is not None
    customer = str(owner.customer_id)
    runner = CliRunner()

    async def sync(*args: str) -> Any:
        return await asyncio.to_thread(runner.invoke, cli, ["sync", *args, "--customer-id", customer])

    paused = await sync("pause", "dynamics")
    assert paused.exit_code == 0 and "dynamics sync paused" in paused.output, paused.output
    status = await sync("status")
    assert status.exit_code == 0, status.output
    rows = {line.split()[1]: line for line in status.output.splitlines() if line.split()[1:2] in (["procore"], ["dynamics"])}
    assert "paused" in rows["dynamics"] and "syncing" in rows["procore"], status.output
    refused = await sync("run", "dynamics")
    assert refused.exit_code == 1 and "paused" in refused.output
    resumed = await sync("resume", "dynamics")
    assert resumed.exit_code == 0 and f"resume-{customer}-dynamics" in resumed.output, resumed.output
    ran = await sync("run", "dynamics")
    assert ran.exit_code == 0 and f"delta-{customer}-dynamics" in ran.output, ran.output
    unknown = await sync("pause", "sap")
    assert unknown.exit_code != 0


@pytest.mark.usefixtures("worker", "cli_temporal_env")
async def test_verify_and_conflict_verbs(sessionmaker: Any, live: str, emulators: Any, api: httpx.AsyncClient) -> None:
    """`verify` prints the counts of a live connection's drift report; `conflicts list|show|resolve`
    work the queue a conflicting write left."""
    from store.customers import find_key_owner
    from tests.fixtures.live import canonical_payment, control, propagate, silence_webhooks
    from tests.fixtures.propagate import PAYMENT_DYNAMICS

    async with sessionmaker() as session:
        owner = await find_key_owner(session, live)
    assert owner is not None
    customer = str(owner.customer_id)
    runner = CliRunner()

    async def run(*args: str) -> Any:
        return await asyncio.to_thread(runner.invoke, cli, [*args, "--customer-id", customer])

    checked = await run("verify", "dynamics")
    assert checked.exit_code == 0, checked.output
    assert "payment" in checked.output and "in sync" in checked.output
    await silence_webhooks(emulators)
    await control(
        emulators, "dynamics", "PATCH", f"/records/payment/{PAYMENT_DYNAMICS}", json={"fields": {"description": "BC"}}
    )
    body = await propagate(api, auth(live), await canonical_payment(api, auth(live)), {"notes": "ours"})
    assert body["propagated"]["dynamics"]["writeStatus"] == "conflict"
    listed = await run("conflicts", "list")
    assert listed.exit_code == 0, listed.output
    conflict = re.search(r"(cfl_[0-9a-f]+)", listed.output).group(1)  # type: ignore[union-attr]
    shown = await run("conflicts", "show", conflict)
    assert shown.exit_code == 0 and '"status": "open"' in shown.output, shown.output
    bad = await run("conflicts", "resolve", conflict, "--keep", "theirs")
    assert bad.exit_code != 0
    resolved = await run("conflicts", "resolve", conflict, "--keep", "canonical")
    assert resolved.exit_code == 0 and "resolved" in resolved.output, resolved.output
    again = await run("conflicts", "resolve", conflict, "--keep", "canonical")
    assert again.exit_code == 1 and "not open" in again.output
    remote = (await control(emulators, "dynamics", "GET", f"/records/payment/{PAYMENT_DYNAMICS}")).json()
    assert remote["description"] == "ours"
