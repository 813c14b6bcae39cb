"""Serving the emulators as processes: ``python -m emulators <name> --port N`` (what the CLI wraps)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from emulators.runner import create_emulator_app, run_emulator
from tests.fixtures.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_until_up(url: str, process: subprocess.Popen[bytes], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "the emulator process exited"
        try:
            if httpx.get(f"{url}/_control/settings", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


@pytest.mark.parametrize(
    ("name", "token_path", "credentials"),
    [
        (
            "procore",
            "/oauth/token",
            {"client_id": "structural-procore-client", "client_secret": "structural-procore-secret"},
        ),
        (
            "dynamics",
            "/5d2f4a8e-9c3b-4e71-a6d0-1b8f7e2c9a34/oauth2/v2.0/token",
            {
                "client_id": "structural-bc-client",
                "client_secret": "structural-bc-secret",
                "scope": "https://api.businesscentral.dynamics.com/.default",
            },
        ),
    ],
)
def test_module_entry_point_serves_an_emulator(name: str, token_path: str, credentials: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators", name, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        token = httpx.post(url + token_path, data={"grant_type": "client_credentials", **credentials})
        assert token.status_code == 200, token.text
        assert token.json()["access_token"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_unknown_emulator_name() -> None:
    with pytest.raises(ValueError, match="unknown emulator 'sap'"):
        run_emulator("sap", "127.0.0.1", 0)
    assert create_emulator_app("procore") is not create_emulator_app("procore")  # a fresh app per call
