"""The bare workflow's worker.

By default it runs as its own process (``python -m bench.propagate.bare_worker``, reading
TEMPORAL_ADDRESS and TASK_QUEUE), like the production worker, so it shares neither an event loop
nor a GIL with the load generator; ``--bare-in-process`` runs it inside the bench process instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.common import ROOT
from bench.propagate.bare import BareWorkflow, bare_fan_out, bare_record, bare_update
from worker import write_workflow_bytecode


def make_worker(client: Client, task_queue: str) -> Worker:
    """Default Worker options, like worker.py's, and its bytecode written like worker.py writes the
    product's (otherwise the sandbox would compile the bare module for every run, under
    PYTHONDONTWRITEBYTECODE, and the baseline would pay a cost the product does not)."""
    write_workflow_bytecode([BareWorkflow])
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        activities=[bare_update, bare_fan_out, bare_record],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


@asynccontextmanager
async def in_process(client: Client, task_queue: str) -> AsyncIterator[None]:
    """The bare worker inside the calling process."""
    worker = make_worker(client, task_queue)
    async with worker:
        yield


def start_process(address: str, task_queue: str, log_file: Path) -> subprocess.Popen[bytes]:
    """The bare worker as its own process, started like bench.common.start_worker starts worker.py."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "TASK_QUEUE": task_queue}
    out = open(log_file, "ab")  # noqa: SIM115 - lives as long as the child
    return subprocess.Popen(
        [sys.executable, "-m", "bench.propagate.bare_worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )


async def serve() -> None:
    client = await Client.connect(os.environ["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)
    worker = make_worker(client, os.environ["TASK_QUEUE"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())
