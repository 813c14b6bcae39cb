"""docker-compose.yml cannot run here (no Docker engine), so check its structure instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"postgres", "temporal", "temporal-ui", "migrate", "api", "worker"}
LONG_RUNNING = {"postgres", "temporal", "temporal-ui", "api", "worker"}


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_required_services_with_healthchecks() -> None:
    services = load()["services"]
    assert services.keys() >= REQUIRED
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], name
        # A crashed long-running service comes back by itself.
        assert services[name].get("restart") in ("unless-stopped", "always", "on-failure"), name


def test_dependencies_exist_and_use_conditions() -> None:
    services = load()["services"]
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec["condition"] in allowed
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} health but it has none"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_app_services_use_external_postgres_and_temporal() -> None:
    services = load()["services"]
    for name in ("api", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:" in env["DATABASE_URL"]
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_every_service_the_readme_mentions_is_defined() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deployment with docker-compose", 1)[1].split("\n## ", 1)[0]
    mentioned = set(re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE))
    assert mentioned >= REQUIRED
    assert mentioned <= load()["services"].keys(), mentioned - load()["services"].keys()


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    for package in packages:
        assert f"COPY {package} {package}" in dockerfile, package
