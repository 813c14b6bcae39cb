"""Heartbeats for long platform reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity


@contextlib.asynccontextmanager
async def keep_alive(every: float = 10.0) -> AsyncIterator[None]:
    """Heartbeat every ``every`` seconds while the block runs. A listing may go a long time without
    yielding a record (Procore lists thousands of projects and contracts before a changed payment);
    a heartbeat per record read would let the heartbeat timeout take it for a dead worker and retry
    it forever. A dead worker still stops heartbeating: it is noticed as before."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
