"""Procore's published endpoint schemas (``platforms/procore/schemas/``), read once.

The one place that says what a Procore endpoint requires and takes: the client writes only the
properties of an endpoint's write schema, the emulator refuses a request without the parameters an
endpoint marks required, and the contract tests hold both to the same files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

SCHEMAS = Path(__file__).resolve().parent / "schemas"


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str  # e.g. /rest/v1.0/contract_payments/{id}
    pattern: re.Pattern[str]
    query: frozenset[str]  # required query parameters
    body: frozenset[str]  # required top-level body keys
    body_key: str | None  # the wrapper object of the record's fields (``contract_payment``)
    writable: frozenset[str]  # the record's fields the write body takes
    enums: Mapping[str, tuple[str, ...]]  # writable fields with a closed vocabulary
    response: Mapping[str, Any]  # the response record's properties (name -> JSON schema)


def _record_schema(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    responses = spec.get("responses", {})
    schema = (responses.get("200") or responses.get("201") or {}).get("schema") or {}
    if schema.get("type") == "array":
        schema = schema.get("items") or {}
    return MappingProxyType(dict(schema.get("properties") or {}))


def _endpoint(spec: Mapping[str, Any]) -> Endpoint:
    template = spec["path"]
    body_schema = (spec.get("requestBody") or {}).get("schema") or {}
    wrappers = {k: v for k, v in (body_schema.get("properties") or {}).items() if v.get("type") == "object"}
    # The write body wraps the record's fields in one object (`{"contract_payment": {...}}`).
    body_key: str | None = next(iter(wrappers), None)
    record: Mapping[str, Any] = wrappers[body_key] if body_key is not None else {}
    properties: Mapping[str, Any] = record.get("properties") or {}
    return Endpoint(
        method=spec["method"],
        template=template,
        pattern=re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"),
        query=frozenset(
            p["name"] for p in spec.get("parameters", []) if p.get("in") == "query" and p.get("required")
        ),
        body=frozenset(body_schema.get("required", [])),
        body_key=body_key,
        # `custom_field_%{custom_field_definition_id}` is a family of keys, not one we write.
        writable=frozenset(k for k in properties if "%{" not in k),
        enums=MappingProxyType({k: tuple(v["enum"]) for k, v in properties.items() if v.get("enum")}),
        response=_record_schema(spec),
    )


@cache
def endpoints() -> tuple[Endpoint, ...]:
    return tuple(_endpoint(json.loads(path.read_text())) for path in sorted(SCHEMAS.glob("*.json")))


@cache  # asked on every write
def endpoint(method: str, template: str) -> Endpoint:
    """The published endpoint ``method template`` (KeyError when Procore publishes none)."""
    for found in endpoints():
        if found.method == method and found.template == template:
            return found
    raise KeyError(f"{method} {template}")


@cache  # asked on every emulated request
def published(method: str, template: str) -> Endpoint | None:
    """The published endpoint ``method template``, or None when Procore publishes none."""
    try:
        return endpoint(method, template)
    except KeyError:
        return None


def match(method: str, path: str) -> Endpoint | None:
    """The endpoint a concrete request path is for; a literal path wins over a template."""
    matches = [e for e in endpoints() if e.method == method and e.pattern.match(path)]
    return min(matches, key=lambda e: e.template.count("{"), default=None)
