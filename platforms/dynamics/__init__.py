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
from platforms.dynamics.mapping import CURRENCY_ANNOTATION, MAPPER, payment_currency, with_currency


def _record_currency(record: Mapping[str, Any]) -> str | None:
    # Documents state their currency; a journal line has none and is in its customer's currency,
    # which the client (or the sandbox data) notes on it. Unknown: the customer's local one.
    code = record.get("currencyCode") or record.get(CURRENCY_ANNOTATION)
    return str(code) if code else None


def _sandbox_records() -> dict[str, list[dict[str, Any]]]:
    """The demo data set as a connect seeds it: payments noted with their customer's currency,
    as the live client notes the payments it reads (``client.DynamicsClient``)."""
    records = demo_data.demo_records()
    customers = {c["id"]: c["currencyCode"] for c in records["customer"]}
    invoices = {i["id"]: i["currencyCode"] for i in records["invoice"]}
    for payment in records["payment"]:
        with_currency(payment, payment_currency(payment, customers, invoices))
    return records


#: What BC computes and its API pages mark ``Editable = false`` (APIV2 - Sales Orders / Sales
#: Invoices): a change to the canonical field behind them fails BC before writing.
_TOTALS: Final = {
    "totalAmountIncludingTax": "BC computes document totals from the lines (Editable = false)",
    "totalAmountExcludingTax": "BC computes document totals from the lines (Editable = false)",
    "totalTaxAmount": "BC computes the tax from the lines (Editable = false)",
}
_REASONS: Final = {
    "contract": {**_TOTALS, "status": "BC sets an order's status by releasing it or sending it for approval"},
    "invoice": {
        **_TOTALS,
        "remainingAmount": "BC computes what is left to pay from the posted entries",
        "status": "BC sets an invoice's status by posting, paying or cancelling it",
    },
}
# Every property the API pages mark read-only (metadata.READ_ONLY, one source): a change the mapper
# renders into one of them is left out and noted, never dropped without a word by the client.
COMPUTED_FIELDS: Final = {
    entity: {
        key: _REASONS.get(entity, {}).get(key, "read-only in Business Central's API page (Editable = false)")
        for key in sorted(keys)
    }
    for entity, keys in metadata.READ_ONLY.items()
    if keys
}


PLATFORM: Final = Platform(
    name="dynamics",
    title="Business Central",
    mapper=MAPPER,
    demo_records=_sandbox_records,
    samples=lambda: samples.SAMPLES,
    read_only_fields=client.READ_ONLY,
    # MaxLength of every text property, from the vendored $metadata.
    max_lengths=metadata.max_lengths,
    computed_fields=COMPUTED_FIELDS,
    # OData annotations, and the one our client adds (a payment's currency).
    annotation_prefixes=("@odata", "@structural"),
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
