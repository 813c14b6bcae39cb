"""`structural run`: the whole stack in the foreground, stopped cleanly by Ctrl-C.

Order: PostgreSQL -> Temporal dev server -> migrations -> worker -> API. Children run in their
own sessions so one Ctrl-C does not hit them all at once; we stop them in reverse order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.postgres import EmbeddedPostgres, start_embedded
from devstack.temporal import port_open, start_dev_server
from platforms.registry import platforms
from settings import Settings
from store.migrate import upgrade

DATABASE_NAME = "structural"


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]


@dataclass
class Stack:
    settings: Settings
    postgres: EmbeddedPostgres | None = None
    temporal: subprocess.Popen[bytes] | None = None
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def log(self, msg: str) -> None:
        print(f"[structural] {msg}", flush=True)

    def start(self) -> None:
        s = self.settings
        data_dir = Path(s.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)

        if s.database_url:
            self.log("using external PostgreSQL from DATABASE_URL")
            database_url = s.database_url
        else:
            t0 = time.monotonic()
            self.postgres = start_embedded(data_dir / "postgres")
            database_url = self.postgres.ensure_database(DATABASE_NAME)
            self.log(f"embedded PostgreSQL up in {time.monotonic() - t0:.1f}s (data in {data_dir / 'postgres'})")
        env["DATABASE_URL"] = database_url

        if "TEMPORAL_ADDRESS" in os.environ:
            self.log(f"using external Temporal at {s.temporal_address}")
        else:
            host, _, port = s.temporal_address.partition(":")
            t0 = time.monotonic()
            self.temporal = start_dev_server(
                data_dir / "temporal" / "temporal.db",
                port=int(port or 7233),
                ui_port=s.temporal_ui_port,
                host=host if host not in ("localhost", "") else "127.0.0.1",
                log_file=data_dir / "temporal.log",
            )
            self.log(f"Temporal dev server up in {time.monotonic() - t0:.1f}s")
        env["TEMPORAL_ADDRESS"] = s.temporal_address

        upgrade(database_url)
        self.log("database migrated")

        # The platform emulators, so live mode can be tried end to end (they are on the allow-list).
        for platform in platforms():
            emu_port = platform.emulator_port(s)
            if platform.emulator_app is not None and emu_port is not None:
                command = [sys.executable, "-m", "emulators", platform.name, "--port", str(emu_port)]
                self.spawn(f"{platform.name} emulator", command, env)
        self.spawn("worker", [sys.executable, "-m", "worker"], env)
        self.spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                s.api_host,
                "--port",
                str(s.api_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env,
        )
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1" if s.api_host in ("0.0.0.0", "") else s.api_host, s.api_port):
            self.check_children()
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start listening within 30 s")
            time.sleep(0.2)

        base = f"http://localhost:{s.api_port}"
        self.log("ready:")
        self.log(f"  API            {base}/api/v1   (health: {base}/api/v1/health)")
        self.log(f"  OpenAPI docs   {base}/docs   ({base}/openapi.json)")
        if self.temporal is not None:
            self.log(f"  Temporal UI    http://localhost:{s.temporal_ui_port}")
        self.log(f"  Temporal gRPC  {s.temporal_address}")
        for platform in platforms():
            if platform.emulator_app is not None and (emu_port := platform.emulator_port(s)) is not None:
                label = f"{platform.title} emulator"
                self.log(f"  {label:<25} http://127.0.0.1:{emu_port}  (control: /_control)")
        self.log("Ctrl-C stops everything; data is kept in " + str(data_dir))

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        proc = subprocess.Popen(args, env=env, start_new_session=True)
        self.children.append(Child(name, proc))

    def check_children(self) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                raise RuntimeError(f"{child.name} exited unexpectedly with code {code}")

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.log("stopping...")
        for child in reversed(self.children):
            _terminate(child.proc, 15)
        if self.temporal is not None:
            _terminate(self.temporal, 10)
        if self.postgres is not None:
            self.postgres.stop()
        self.log("stopped")


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_stack(settings: Settings) -> int:
    stack = Stack(settings)

    def _on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored, and
    # Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        stack.start()
        while True:
            stack.check_children()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        stack.log(f"error: {exc}")
        return 1
    finally:
        stack.stop()
