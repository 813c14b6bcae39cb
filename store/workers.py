"""SQL of worker heartbeats (GET /health: is a worker alive right now?)."""

from __future__ import annotations

from sqlalchemy import text

from store.propagate import Executor


async def beat(conn: Executor, worker_id: str, task_queue: str, host: str, pid: int) -> None:
    await conn.execute(
        text(
            """
            INSERT INTO worker_heartbeats (worker_id, task_queue, host, pid) VALUES (:w, :q, :h, :p)
            ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()
            """
        ),
        {"w": worker_id, "q": task_queue, "h": host, "p": pid},
    )


async def forget(conn: Executor, worker_id: str) -> None:
    """A worker stopping cleanly says so (and rows of workers long gone are dropped with it)."""
    await conn.execute(
        text("DELETE FROM worker_heartbeats WHERE worker_id = :w OR seen_at < now() - interval '1 day'"),
        {"w": worker_id},
    )


async def live_workers(conn: Executor, task_queue: str, within_seconds: float) -> int:
    row = await conn.execute(
        text(
            "SELECT count(*) FROM worker_heartbeats "
            "WHERE task_queue = :q AND seen_at > now() - make_interval(secs => :s)"
        ),
        {"q": task_queue, "s": within_seconds},
    )
    return int(row.scalar_one())
