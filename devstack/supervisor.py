"""`structural run`: the whole stack in the foreground, kept up, stopped cleanly by Ctrl-C.

Order: PostgreSQL -> Temporal dev server -> migrations -> emulators -> worker -> API. Children run in
their own sessions so one Ctrl-C does not hit them all at once; we stop them in reverse order.

A process that exits (the worker, the API, an emulator, the Temporal dev server, PostgreSQL) is
started again, on the same data, and logged with its exit code: after 1 s, doubling while it keeps
crashing within 10 s of starting (up to a minute), reported as crash-looping after 5 such crashes.
DATA_DIR/stack.json lists the processes, their pids and restarts (``structural status``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.postgres import EmbeddedPostgres, start_embedded
from devstack.temporal import port_open, start_dev_server
from platforms.registry import platforms
from settings import Settings
from store.migrate import upgrade

DATABASE_NAME = "structural"


#: A child that ran less than this before exiting crashed "fast": its next restart waits longer.
FAST_CRASH_SECONDS = 10.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
#: Fast crashes in a row after which the child is reported as crash-looping (it is still retried).
CRASH_LOOP = 5


@dataclass
class Child:
    """A supervised process: how to start it, and its restart state."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    fast_crashes: int = 0
    restart_at: float | None = None  # when a crashed child is started again

    def launch(self) -> None:
        self.proc = self.start()
        self.started_at = time.monotonic()
        self.restart_at = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid


@dataclass
class Stack:
    settings: Settings
    postgres: EmbeddedPostgres | None = None
    temporal: Child | None = None
    children: list[Child] = field(default_factory=list)
    stopping: bool = False
    env: dict[str, str] = field(default_factory=dict)
    postgres_retry_at: float = 0.0

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

        if "TEMPORAL_ADDRESS" in os.environ and not s.temporal_dev_server:
            self.log(f"using external Temporal at {s.temporal_address}")
        else:
            host, _, port = s.temporal_address.partition(":")
            t0 = time.monotonic()
            self.temporal = Child(
                "temporal",
                lambda: start_dev_server(
                    data_dir / "temporal" / "temporal.db",
                    port=int(port or 7233),
                    ui_port=s.temporal_ui_port,
                    host=host if host not in ("localhost", "") else "127.0.0.1",
                    log_file=data_dir / "temporal.log",
                ),
            )
            self.temporal.launch()
            self.log(f"Temporal dev server up in {time.monotonic() - t0:.1f}s")
        env["TEMPORAL_ADDRESS"] = s.temporal_address
        # The local stack is for development: a webhook receiver on this machine may get events.
        env.setdefault("WEBHOOK_ALLOWED_HOSTS", "localhost,127.0.0.1")
        self.env = env

        upgrade(database_url)
        self.log("database migrated")

        # The platform emulators, so live mode can be tried end to end (they are on the allow-list).
        for platform in platforms():
            emu_port = platform.emulator_port(s)
            if platform.emulator_app is not None and emu_port is not None:
                command = [sys.executable, "-m", "emulators", platform.name, "--port", str(emu_port)]
                self.spawn(f"{platform.name} emulator", command)
        self.spawn("worker", [sys.executable, "-m", "worker"])
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
        )
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1" if s.api_host in ("0.0.0.0", "") else s.api_host, s.api_port):
            self.watch()
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
        self.log("a process that exits is restarted; Ctrl-C stops everything; data is kept in " + str(data_dir))
        self.write_state()

    def spawn(self, name: str, args: list[str]) -> None:
        child = Child(name, lambda: subprocess.Popen(args, env=self.env, start_new_session=True))
        child.launch()
        self.children.append(child)

    def watch(self) -> None:
        """Restart what exited (with backoff), PostgreSQL included; called every half second."""
        now = time.monotonic()
        if self.postgres is not None and now >= self.postgres_retry_at and not _alive(_postmaster(self.postgres)):
            self.log("PostgreSQL exited; starting it again on its data")
            try:
                self.postgres.restart()
            except Exception as exc:  # the library raises what pg_ctl said: try again shortly
                self.postgres_retry_at = now + 5.0
                self.log(f"PostgreSQL did not start ({exc}); trying again in 5s")
                return
            url = self.postgres.url(DATABASE_NAME)
            if url != self.env.get("DATABASE_URL"):  # a new socket: the children must reconnect there
                self.env["DATABASE_URL"] = url
                for child in self.children:
                    if child.proc is not None:
                        _terminate(child.proc, 15)
            self.write_state()
        for child in [c for c in (self.temporal, *self.children) if c is not None]:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.log(f"restarting {child.name} (restart {child.restarts})")
                    try:
                        child.launch()
                    except RuntimeError as exc:  # the dev server did not come up: try again later
                        self._schedule(child, now, f"failed to start: {exc}")
                    self.write_state()
                continue
            assert child.proc is not None
            code = child.proc.poll()
            if code is not None:
                self._schedule(child, now, f"exited with code {code}")
                self.write_state()

    def _schedule(self, child: Child, now: float, why: str) -> None:
        ran = now - child.started_at
        child.fast_crashes = child.fast_crashes + 1 if ran < FAST_CRASH_SECONDS else 0
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, child.fast_crashes - 1))
        child.restarts += 1
        child.restart_at = now + delay
        self.log(f"{child.name} {why} after {ran:.1f}s; restarting in {delay:.0f}s")
        if child.fast_crashes >= CRASH_LOOP:
            self.log(
                f"WARNING: {child.name} crashed {child.fast_crashes} times in a row within {FAST_CRASH_SECONDS:.0f}s "
                f"of starting; it keeps being restarted every {BACKOFF_MAX:.0f}s at most - check its output above"
            )

    def write_state(self) -> None:
        """DATA_DIR/stack.json: the processes and their restarts (``structural status`` reads it)."""
        state = {
            "supervisor_pid": os.getpid(),
            "processes": [
                {"name": c.name, "pid": c.pid, "restarts": c.restarts, "running": c.restart_at is None}
                for c in [c for c in (self.temporal, *self.children) if c is not None]
            ]
            + (
                [{"name": "postgres", "pid": _postmaster(self.postgres), "restarts": 0, "running": True}]
                if self.postgres is not None
                else []
            ),
        }
        path = Path(self.settings.data_dir) / "stack.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        # A second Ctrl-C while stopping must not leave Temporal or PostgreSQL running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.log("stopping...")
        for child in reversed(self.children):
            if child.proc is not None:
                _terminate(child.proc, 15)
        if self.temporal is not None and self.temporal.proc is not None:
            _terminate(self.temporal.proc, 10)
        if self.postgres is not None:
            self.postgres.stop()
        (Path(self.settings.data_dir) / "stack.json").unlink(missing_ok=True)
        self.log("stopped")


def _postmaster(postgres: EmbeddedPostgres) -> int:
    try:
        return postgres.pid
    except Exception:  # no postmaster.pid to read: not running
        return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            stack.watch()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        stack.log(f"error: {exc}")
        return 1
    finally:
        stack.stop()
