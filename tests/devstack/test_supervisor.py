"""`structural run` keeps the stack up: the worker, the API and an emulator SIGKILLed under it are
back within seconds (a propagation in flight completes), the restart backoff grows for a process
that keeps crashing, and Ctrl-C still stops everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.supervisor import BACKOFF_MAX, CRASH_LOOP, Child, Stack
from settings import Settings
from tests.fixtures.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if condition():
                return
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`structural run` in its own data dir and ports, as a user starts it."""
    data = tmp_path_factory.mktemp("stack")
    ports = {name: free_port() for name in ("api", "temporal", "ui", "procore", "dynamics")}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    env.update(
        DATA_DIR=str(data),
        API_PORT=str(ports["api"]),
        TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
        TEMPORAL_DEV_SERVER="true",
        TEMPORAL_UI_PORT=str(ports["ui"]),
        PROCORE_EMULATOR_PORT=str(ports["procore"]),
        DYNAMICS_EMULATOR_PORT=str(ports["dynamics"]),
        LOG_LEVEL="warning",
    )
    log = open(data / "run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    api = f"http://127.0.0.1:{ports['api']}"
    state = data / "stack.json"
    try:
        _wait(lambda: httpx.get(f"{api}/api/v1/health", timeout=2).status_code == 200, 120, "a healthy stack")
        yield {"proc": proc, "api": api, "state": state, "log": data / "run.log", "ports": ports, "env": env}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def _pid(stack: dict[str, Any], name: str) -> int:
    processes = json.loads(stack["state"].read_text())["processes"]
    [found] = [p for p in processes if p["name"] == name]
    return int(found["pid"])


def _restarted(stack: dict[str, Any], name: str, old: int) -> bool:
    processes = json.loads(stack["state"].read_text())["processes"]
    [found] = [p for p in processes if p["name"] == name]
    return bool(found["running"] and found["pid"] != old and found["restarts"] >= 1)


def test_a_killed_worker_is_restarted_and_the_propagation_in_flight_completes(stack: dict[str, Any]) -> None:
    api = stack["api"]
    key = httpx.post(f"{api}/api/v1/demo/session", timeout=10).json()["data"]["api_key"]
    h = {"Authorization": f"Bearer {key}"}
    for platform in ("procore", "dynamics"):
        assert (
            httpx.post(f"{api}/api/v1/connect", headers=h, json={"platform": platform}, timeout=60).status_code == 200
        )
    payments = httpx.get(
        f"{api}/api/v1/objects", headers=h, params={"platform": "procore", "entity_type": "payment"}, timeout=10
    ).json()["data"]
    target = next(p["canonical_id"] for p in payments if len(p["mappings"]) == 2)
    worker = _pid(stack, "worker")
    os.kill(worker, signal.SIGKILL)
    # Sent while the worker is dead: acknowledged (502 after the API's wait, or 200 if the new worker
    # was quick), and done once the worker is back.
    resp = httpx.post(
        f"{api}/api/v1/propagate",
        headers={**h, "Idempotency-Key": "in-flight-1"},
        json={"canonical_id": target, "entity_type": "payment", "data": {"notes": "sent while the worker was down"}},
        timeout=60,
    )
    assert resp.status_code in (200, 502), resp.text
    _wait(lambda: _restarted(stack, "worker", worker), 30, "the worker to be restarted")

    def synced() -> bool:
        again = httpx.post(
            f"{api}/api/v1/propagate",
            headers={**h, "Idempotency-Key": "in-flight-1"},
            json={
                "canonical_id": target,
                "entity_type": "payment",
                "data": {"notes": "sent while the worker was down"},
            },
            timeout=30,
        )
        return again.status_code == 200 and again.json()["data"]["status"] == "synced"

    _wait(synced, 60, "the propagation sent while the worker was down to complete")
    assert b"worker exited with code -9" in stack["log"].read_bytes()


@pytest.mark.parametrize("name", ["api", "procore emulator"])
def test_a_killed_api_or_emulator_is_back_within_seconds(stack: dict[str, Any], name: str) -> None:
    old = _pid(stack, name)
    os.kill(old, signal.SIGKILL)
    started = time.monotonic()
    _wait(lambda: _restarted(stack, name, old), 30, f"{name} to be restarted")
    if name == "api":
        _wait(lambda: httpx.get(f"{stack['api']}/api/v1/health", timeout=2).status_code == 200, 30, "health")
    else:
        port = stack["ports"]["procore"]
        _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/_control/writes", timeout=2).status_code == 200, 30, name)
    assert time.monotonic() - started < 20


def test_a_killed_postgres_is_started_again_on_its_data(stack: dict[str, Any]) -> None:
    api = stack["api"]
    key = httpx.post(f"{api}/api/v1/demo/session", timeout=10).json()["data"]["api_key"]
    os.kill(_pid(stack, "postgres"), signal.SIGKILL)
    _wait(lambda: httpx.get(f"{api}/api/v1/health", timeout=5).status_code == 200, 90, "health after PostgreSQL")
    # Its data is there: the key made before the kill still works.
    assert httpx.get(f"{api}/api/v1/event-types", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert b"PostgreSQL exited" in stack["log"].read_bytes()


def test_health_is_degraded_while_the_worker_is_down(stack: dict[str, Any]) -> None:
    """A hung worker (stopped, not exited: nothing restarts it) serves nothing: health says so within
    seconds (its heartbeat stops; Temporal would list its pollers for another minute), and ok again
    once it runs."""
    api = stack["api"]
    _wait(lambda: httpx.get(f"{api}/api/v1/health", timeout=2).status_code == 200, 60, "health")
    worker = _pid(stack, "worker")
    os.kill(worker, signal.SIGSTOP)
    try:

        def degraded() -> bool:
            resp = httpx.get(f"{api}/api/v1/health", timeout=5)
            body = resp.json()["data"]
            return resp.status_code == 503 and body["checks"]["workers"] == "error" and body["workers_alive"] == 0

        _wait(degraded, 30, "health to report the worker down")
    finally:
        os.kill(worker, signal.SIGCONT)
    _wait(lambda: httpx.get(f"{api}/api/v1/health", timeout=2).status_code == 200, 30, "health back to ok")


def test_status_prints_health_pollers_and_processes(stack: dict[str, Any]) -> None:
    _wait(lambda: httpx.get(f"{stack['api']}/api/v1/health", timeout=2).status_code == 200, 60, "health")
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "status"],
        cwd=ROOT,
        env={**stack["env"], "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "status: ok" in out and "workers    ok" in out
    for name in ("worker", "api", "procore emulator", "dynamics emulator", "temporal", "postgres"):
        assert name in out, out
    assert "-events/activities" in out


def test_ctrl_c_stops_everything(stack: dict[str, Any]) -> None:
    processes = json.loads(stack["state"].read_text())["processes"]
    pids = {int(p["pid"]): p["name"] for p in processes if p["pid"]}
    stack["proc"].send_signal(signal.SIGINT)
    assert stack["proc"].wait(60) == 0
    _wait(lambda: not [n for pid, n in pids.items() if _running(pid)], 10, "every process to be gone")
    assert not stack["state"].exists()


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie is gone, only not yet reaped)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_process_that_keeps_crashing_backs_off_and_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pure bookkeeping of the restart schedule: no hot loop, a warning after repeated fast crashes."""
    supervisor = Stack(Settings(data_dir=tmp_path))
    child = Child("worker", lambda: subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
    delays = []
    now = 1000.0
    for _ in range(CRASH_LOOP + 3):
        child.started_at = now - 1.0  # ran a second: a fast crash
        supervisor._schedule(child, now, "exited with code 3")
        assert child.restart_at is not None
        delays.append(child.restart_at - now)
        now = child.restart_at
    assert delays == [1, 2, 4, 8, 16, 32, BACKOFF_MAX, BACKOFF_MAX]
    assert f"crashed {CRASH_LOOP} times in a row" in capsys.readouterr().out
    child.started_at = now - 3600.0  # ran an hour: the next crash starts over
    supervisor._schedule(child, now, "exited with code 3")
    assert child.restart_at == now + 1
