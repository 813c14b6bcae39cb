"""Running an emulator over real HTTP: in the foreground (CLI) or in a background thread (tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from platforms.registry import get_platform, platforms


def emulator_names() -> tuple[str, ...]:
    """The platforms that have an emulator."""
    return tuple(p.name for p in platforms() if p.emulator_app is not None)


def create_emulator_app(name: str) -> FastAPI:
    """A fresh emulator app of a platform (its descriptor's ``emulator_app``), by platform name."""
    factory = get_platform(name).emulator_app if name in emulator_names() else None
    if factory is None:
        raise ValueError(f"unknown emulator {name!r}; choose one of {', '.join(emulator_names())}")
    return factory()


def run_emulator(name: str, host: str, port: int) -> None:
    """Serve one emulator with uvicorn in the foreground until interrupted (Ctrl-C)."""
    uvicorn.run(create_emulator_app(name), host=host, port=port, log_level="info")


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server in a daemon thread; yields its base URL.

    ``port=0`` lets the OS pick a free port (no race between choosing and binding it).
    """
    # A short graceful-shutdown timeout: requests stuck in an injected hang are cancelled on exit.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", loop="asyncio", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"emulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("emulator server did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)
