"""The receiving example in the README runs as printed: it verifies real deliveries (204, logged
delivered) and refuses a forged one."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators import serve_in_thread
from tests.events.conftest import add_endpoint, change, eventually

pytestmark = pytest.mark.usefixtures("worker")

README = Path(__file__).resolve().parents[2] / "README.md"


def _example(tmp_path: Path) -> Any:
    text = README.read_text()
    [code] = [c for c in re.findall(r"```python\n(.*?)```", text, re.S) if "# receiver.py" in c]
    path = tmp_path / "readme_receiver.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("readme_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_readme_receiver_verifies_deliveries(
    api: httpx.AsyncClient, customer: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint's secret is only known after creation: create it disabled, start the receiver
    # with the secret, then enable it.
    endpoint = await add_endpoint(api, customer, "http://127.0.0.1:9/structural", enabled=False)
    monkeypatch.setenv("STRUCTURAL_WEBHOOK_SECRET", endpoint["secret"])
    module = _example(tmp_path)
    with serve_in_thread(module.app) as url:
        path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
        patched = await api.patch(path, headers=customer, json={"url": f"{url}/structural", "enabled": True})
        assert patched.status_code == 200, patched.text
        await change(api, customer, 1)

        async def delivered() -> bool:
            log = (await api.get(f"{path}/deliveries", headers=customer)).json()["data"]
            return any(a["outcome"] == "delivered" and a["status_code"] == 204 for a in log)

        await eventually(delivered)
        assert len(module.seen) == 1
        async with httpx.AsyncClient() as http:
            forged = await http.post(
                f"{url}/structural",
                content=b'{"id": "evt_forged"}',
                headers={"webhook-id": "evt_forged", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
            )
        assert forged.status_code == 400
