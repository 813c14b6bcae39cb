"""CPU seconds per component of the stack during the soak (from /proc), to tell a slow engine from a
busy machine: the two cores are shared by PostgreSQL, Temporal, the worker, the API, both emulators,
the bench, and whatever else runs on the machine (e.g. somebody's test suite)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import cpu_seconds
from bench.propagate.procs import CpuMeter, cmdline, find_children, machine_busy
from bench.sync.stack import Stack


def _postmaster(tmp: Path) -> int | None:
    """The embedded PostgreSQL of this stack (it daemonizes: found by its data directory)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and "bin/postgres" in (line := cmdline(int(entry.name))) and str(tmp) in line:
            return int(entry.name)
    return None


class CpuWatch:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        roots: dict[str, int] = {}
        if stack.api_proc is not None:
            roots["API"] = stack.api_proc.pid
        for name, emulator in stack.emulators.items():
            roots[f"{name} emulator"] = emulator.proc.pid
        temporal = find_children(os.getpid(), "temporal")
        if temporal:
            roots["Temporal"] = temporal[0]
        postgres = _postmaster(stack.tmp)
        if postgres is not None:
            roots["PostgreSQL"] = postgres
        self.meter = CpuMeter(roots)
        self.worker_cpu = 0.0  # of workers that are gone

    def start(self) -> None:
        self.before = self.meter.snapshot()
        self.busy = machine_busy()
        self.own = cpu_seconds(os.getpid())
        self.worker_start = self._worker()

    def _worker(self) -> float:
        worker = self.stack.worker
        return cpu_seconds(worker.pid) if worker is not None and worker.poll() is None else 0.0

    def before_kill(self) -> None:
        self.worker_cpu += self._worker() - self.worker_start
        self.worker_start = 0.0  # the next worker is measured from its start

    def stop(self, wall: float) -> dict[str, float]:
        """CPU seconds per component (and the rest of the machine as "other"), over ``wall`` seconds."""
        used = CpuMeter.delta(self.before, self.meter.snapshot())
        used.pop("(not the stack)", None)
        used["worker"] = self.worker_cpu + self._worker() - self.worker_start
        used["bench"] = cpu_seconds(os.getpid()) - self.own
        busy = machine_busy() - self.busy
        used["other (not this stack)"] = max(0.0, busy - sum(used.values()))
        used["machine busy"] = busy
        used["machine capacity"] = wall * (os.cpu_count() or 1)
        return used
