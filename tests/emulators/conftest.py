"""Fixtures for the emulator tests: every test gets fresh emulators on real uvicorn servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
from fastapi import FastAPI

from emulators import create_dynamics_app, create_procore_app, serve_in_thread
from tests.emulators.receiver import Receiver, receiving

Serve = Callable[[FastAPI], httpx.Client]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(app)``: run an emulator app over real HTTP for this test; returns a client for it."""
    with ExitStack() as stack:

        def start(app: FastAPI) -> httpx.Client:
            url = stack.enter_context(serve_in_thread(app))
            return stack.enter_context(httpx.Client(base_url=url, timeout=5.0))

        yield start


# One default-configured server per module, reset before every test: starting and stopping uvicorn
# costs ~0.2 s, and /_control/reset gives the same fresh state. Tests that need other factory
# arguments start their own with `serve`.


@pytest.fixture(scope="module")
def procore_url() -> Iterator[str]:
    with serve_in_thread(create_procore_app()) as url:
        yield url


@pytest.fixture(scope="module")
def bc_url() -> Iterator[str]:
    with serve_in_thread(create_dynamics_app()) as url:
        yield url


def _fresh_client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=5.0) as client:
        client.post("/_control/reset").raise_for_status()
        yield client


@pytest.fixture
def procore(procore_url: str) -> Iterator[httpx.Client]:
    """A client of a Procore emulator in its initial state (default configuration)."""
    yield from _fresh_client(procore_url)


@pytest.fixture
def bc(bc_url: str) -> Iterator[httpx.Client]:
    """A client of a Business Central emulator in its initial state (default configuration)."""
    yield from _fresh_client(bc_url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server that records the webhook deliveries it gets and answers as told."""
    with receiving() as running:
        yield running
