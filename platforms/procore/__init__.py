"""Procore (REST v1.0): everything Procore-specific, described by ``PLATFORM``.

Mapping tables in ``mapping``, the live connector in ``client``, webhook deliveries in
``webhooks``, demo/sample/synthetic records in ``demo_data``/``samples``/``synthetic``; the
emulator is ``emulators/procore.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from platforms.descriptor import LiveSettingsRule, Platform, lazy
from platforms.procore import client, demo_data, samples, subscriptions, webhooks
from platforms.procore.mapping import DEFAULT_CURRENCY, MAPPER, commitment_options


def _record_currency(record: Mapping[str, Any]) -> str:
    # Amounts are in the project's currency configuration; Procore books in USD without one.
    config = record.get("currency_configuration")
    code = config.get("currency_iso_code") if isinstance(config, Mapping) else None
    return str(code) if code else DEFAULT_CURRENCY


PLATFORM: Final = Platform(
    name="procore",
    title="Procore",
    mapper=MAPPER,
    demo_records=demo_data.demo_records,
    samples=lambda: samples.SAMPLES,
    read_only_fields=frozenset({"id", "created_at", "updated_at"}),
    # What the endpoint schemas' write bodies do not take (platforms/procore/schemas/*Patch.json).
    computed_fields={
        "customer": {
            "legal_name": "not in Procore's vendor write schema",
            "business_id": "not in Procore's vendor write schema",
        },
        "contract": {"grand_total": "computed by Procore from the commitment's line items"},
        "invoice": {"total_claimed_amount": "computed by Procore from the requisition's line items"},
        "payment": {"status": "set by Procore, not in the contract payment's write schema"},
    },
    updated_at_keys=("updated_at",),
    business_keys={
        "project": (("project", "project_number"),),
        "customer": (("tax", "business_id"), ("name", "name"), ("name", "legal_name")),
        "contract": (("contract", "number"),),
        "invoice": (("invoice", "invoice_number"),),
        "payment": (("check", "check_number"),),
    },
    record_currency=_record_currency,
    transform_options=lambda read: commitment_options(read("commitmentType")),
    create_options=commitment_options("WorkOrderContract"),
    transform_context={
        "commitmentType": (Literal["WorkOrderContract", "PurchaseOrderContract"] | None, "Procore contracts without `type`")
    },
    live_client=client.connect,
    created_marker=client.created_marker,
    live_settings=LiveSettingsRule(required=("company_id",), label="Procore"),
    webhooks=webhooks.WEBHOOKS,
    journal_types={
        entity_type: tuple(f"{resource} {event}" for resource in resources for event in subscriptions.EVENTS)
        for entity_type, resources in {
            "contract": ("Work Order Contracts", "Purchase Order Contracts"),
            "invoice": ("Requisitions",),
            "payment": ("Contract Payments",),
        }.items()
    },
    synthetic_records=lazy("platforms.procore.synthetic:synthetic_records"),
    emulator_app=lazy("emulators.procore:create_procore_app"),
    emulator_port_setting="procore_emulator_port",
    rate_limit_setting="procore_requests_per_second",
)
