"""Dynamics 365 Business Central (API v2.0): everything BC-specific, described by ``PLATFORM``.

Mapping tables in ``mapping``, the live connector in ``client``, webhook deliveries in
``webhooks``, demo/sample/synthetic records in ``demo_data``/``samples``/``synthetic``; the
emulator is ``emulators/dynamics.py`` (OData helpers in ``emulators/odata.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from platforms.descriptor import LiveSettingsRule, Platform, lazy
from platforms.dynamics import client, demo_data, metadata, samples, webhooks
from platforms.dynamics.mapping import MAPPER


def _record_currency(record: Mapping[str, Any]) -> str | None:
    # Documents state their currency; blank (and journal lines) mean the customer's local one.
    code = record.get("currencyCode")
    return str(code) if code else None


PLATFORM: Final = Platform(
    name="dynamics",
    title="Business Central",
    mapper=MAPPER,
    demo_records=demo_data.demo_records,
    samples=lambda: samples.SAMPLES,
    read_only_fields=client.READ_ONLY,
    # MaxLength of every text property, from the vendored $metadata.
    max_lengths=metadata.max_lengths,
    annotation_prefixes=("@odata",),
    etag_key="@odata.etag",
    updated_at_keys=("lastModifiedDateTime",),
    business_keys={
        "project": (("project", "number"),),
        "customer": (("tax", "taxRegistrationNumber"), ("name", "displayName")),
        # Document numbers come from number series and change on posting: the keys are the
        # external document numbers (payments: the document number that carries the check number).
        "contract": (("contract", "externalDocumentNumber"),),
        "invoice": (("invoice", "externalDocumentNumber"),),
        "payment": (("check", "documentNumber"),),
    },
    record_currency=_record_currency,
    live_client=client.connect,
    live_settings=LiveSettingsRule(required=("tenant", "environment", "company_id"), label="Dynamics"),
    webhooks=webhooks.WEBHOOKS,
    synthetic_records=lazy("platforms.dynamics.synthetic:synthetic_records"),
    emulator_app=lazy("emulators.dynamics:create_dynamics_app"),
    emulator_port_setting="dynamics_emulator_port",
    rate_limit_setting="dynamics_requests_per_second",
)
