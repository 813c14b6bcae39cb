"""In a real browser (Playwright driving Debian's chromium, installed by `make install-dev`; no browser
download): /docs renders every operation with the outside network unreachable, and the runbook for a
failed fan-out works step by step in the real Temporal UI, as the README words it. Each step's
screenshot is kept in test-artifacts/browser/ (a CI artifact)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures.propagate import PAYMENT_DYNAMICS, PAYMENT_PROCORE, connected, payment

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make install-dev installs it)"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


async def _offline(page: Page) -> list[str]:
    """Only this machine is reachable: every other request fails, and is listed."""
    refused: list[str] = []

    async def guard(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    await page.route("**/*", guard)
    return refused


async def _shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_docs_render_every_operation_offline(browser: Browser, live_server: str) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    refused = await _offline(page)
    await page.goto(f"{live_server}/docs")
    await page.wait_for_selector(".opblock", timeout=30_000)
    await _shot(page, "docs")
    async with httpx.AsyncClient() as http:
        paths = (await http.get(f"{live_server}/openapi.json")).json()["paths"]
    operations = sum(
        1 for item in paths.values() for method in item if method in ("get", "post", "patch", "delete", "put")
    )
    assert await page.locator(".opblock").count() == operations
    assert refused == [], refused


def _runbook_link(ui: str) -> str:
    """The direct link of the README's runbook, pointed at this test's UI."""
    text = README.read_text()
    start = text.index("http://localhost:8233/namespaces/default/workflows?query=")
    link = text[start : text.index("\n", start)].strip()
    return link.replace("http://localhost:8233", ui)


@pytest.mark.usefixtures("worker")
async def test_the_runbook_replays_a_failed_fan_out_in_the_temporal_ui(
    browser: Browser,
    api: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_ui_port: int,
) -> None:
    customer, h = await connected(api, sessionmaker)
    outage = await api.patch("/api/v1/connections/dynamics", headers=h, json={"sandbox_fail_writes": 3})
    assert outage.status_code == 200, outage.text
    canonical_id = (await payment(api, h, "procore", PAYMENT_PROCORE))["canonical_id"]
    resp = await api.post(
        "/api/v1/propagate",
        headers=h,
        json={"canonical_id": canonical_id, "entity_type": "payment", "data": {"notes": "runbook"}},
    )
    assert resp.json()["data"]["status"] == "partial", resp.text
    pid = resp.json()["data"]["propagation_id"]
    workflow_id = f"propagate-{customer}-{pid}"
    ui = f"http://127.0.0.1:{temporal_ui_port}"
    page = await browser.new_page(viewport={"width": 1600, "height": 1000})
    await _offline(page)

    # 1. The runbook's link, narrowed to this customer as it says.
    await page.goto(_runbook_link(ui) + quote(f' AND CustomerId="{customer}"'))
    link = page.get_by_role("link", name=workflow_id)
    await link.wait_for(timeout=30_000)
    await _shot(page, "runbook-1-partial-list")
    # 2. Open the workflow: Running.
    await link.click()
    await page.get_by_role("button", name="More Actions").wait_for(timeout=30_000)
    assert await page.get_by_text("Running", exact=True).first.is_visible()
    await _shot(page, "runbook-2-workflow")
    # 3. User Metadata > Current Details: the failed platform, its record, the reason, the way out.
    await page.get_by_text("User Metadata", exact=True).click()
    await page.get_by_text("Current Details", exact=True).wait_for(timeout=30_000)
    # The UI renders the details' markdown in a sandboxed frame.
    text = ""
    for _ in range(60):
        text = "\n".join([await f.inner_text("body") for f in page.frames if f != page.main_frame])
        if PAYMENT_DYNAMICS in text:
            break
        await page.wait_for_timeout(500)
    for expected in ("dynamics", PAYMENT_DYNAMICS, "unavailable", canonical_id, "notes", "pass 1", "retry_failed"):
        assert expected in text, (expected, text)
    await _shot(page, "runbook-3-user-metadata")
    # 4. More Actions > Send a Signal > retry_failed from the dropdown > Submit.
    await page.get_by_role("button", name="More Actions").click()
    await page.get_by_role("menuitem", name="Send a Signal").click()
    # (The page holds a second, hidden copy of the dialog: act on the visible one.)
    await page.locator('[data-testid="signal-select-button"]:visible').click()
    await page.locator('[role="option"]:visible', has_text="retry_failed").click()
    await _shot(page, "runbook-4-signal")
    await page.locator('button:visible', has_text="Submit").click()
    # 5. The replay writes only Business Central; the workflow completes with Outcome synced.
    record: dict[str, Any] = {}

    async def synced() -> bool:
        record.update((await api.get(f"/api/v1/propagations/{pid}", headers=h)).json()["data"])
        return bool(record["status"] == "synced")

    from tests.fixtures.net import wait_for

    await wait_for(synced, within=30)
    await page.reload()
    await page.get_by_text("Completed", exact=True).first.wait_for(timeout=30_000)
    await page.get_by_text("Search Attributes", exact=True).click()
    await page.wait_for_function(
        "() => /Outcome[\\s\\S]{0,40}synced/.test(document.body.innerText)", timeout=30_000
    )
    await _shot(page, "runbook-5-completed-synced")
    assert {t["platform"]: t["status"] for t in record["targets"]} == {"procore": "synced", "dynamics": "synced"}
