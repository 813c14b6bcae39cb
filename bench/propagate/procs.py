"""CPU time per component of the stack (PostgreSQL, Temporal, worker, API, bench), from /proc.

A component is a root process and all its descendants; exited children are counted through the
parent's cutime/cstime once reaped (PostgreSQL backends are long-lived in a pool anyway).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
OTHER = "(not the stack)"  # every other process on the machine, e.g. other engineers' test runs


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, own + reaped children's CPU seconds) of a process, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / TICK


def _table() -> dict[int, tuple[int, float]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                out[int(entry.name)] = stat
    return out


def machine_busy() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def find_children(parent: int, needle: str) -> list[int]:
    return [pid for pid, (ppid, _) in _table().items() if ppid == parent and needle in cmdline(pid)]


class CpuMeter:
    """CPU seconds per named component; `snapshot()` sums each root's process tree, and adds what the
    rest of the machine used as OTHER."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots

    def snapshot(self) -> dict[str, float]:
        table = _table()
        children: dict[int, list[int]] = defaultdict(list)
        for pid, (ppid, _) in table.items():
            children[ppid].append(pid)
        out = {}
        for name, root in self.roots.items():
            total, stack, claimed = 0.0, [root], {r for r in self.roots.values() if r != root}
            while stack:
                pid = stack.pop()
                if pid in table:
                    total += table[pid][1]
                stack.extend(c for c in children.get(pid, []) if c not in claimed)
            out[name] = total
        out[OTHER] = machine_busy() - sum(out.values())
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before.get(name, 0.0) for name in after}
