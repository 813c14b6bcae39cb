"""The platform registry and descriptors: what generic code may ask a platform, answered per platform."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from pydantic import BaseModel, ValidationError

from canonical.errors import RequestShapeError
from platforms.descriptor import LiveSettingsRule, WebhookShapeError
from platforms.registry import PlatformName, expected, get_platform, names, others, register, registered, unregister
from tests.fixtures.ledger import LEDGER


class _Body(BaseModel):
    platform: PlatformName


def test_the_built_in_platforms_and_their_order() -> None:
    assert names() == ("procore", "dynamics")
    assert others("procore") == ("dynamics",)
    assert expected() == "'procore' or 'dynamics'"
    with pytest.raises(RequestShapeError, match="unknown platform 'sage'; expected one of procore, dynamics"):
        get_platform("sage")


def test_a_registered_platform_is_validated_and_listed_until_it_leaves() -> None:
    with pytest.raises(ValidationError, match="Input should be 'procore' or 'dynamics'"):
        _Body(platform="ledger")
    with registered(LEDGER):
        assert names() == ("procore", "dynamics", "ledger")
        assert _Body(platform="ledger").platform == "ledger"
        assert _Body.model_json_schema()["properties"]["platform"]["enum"] == ["procore", "dynamics", "ledger"]
        with pytest.raises(ValueError, match="already registered"):
            register(LEDGER)
    assert "ledger" not in names()
    with pytest.raises(ValueError, match="built in"):
        unregister("procore")


def test_read_only_fields_and_annotations() -> None:
    procore, dynamics = get_platform("procore"), get_platform("dynamics")
    assert not procore.writable("updated_at") and procore.writable("notes")
    assert not dynamics.writable("@odata.etag") and not dynamics.writable("@odata.anything")
    assert not dynamics.writable("number") and dynamics.writable("description")


def test_versions_and_currencies_by_platform() -> None:
    procore, dynamics = get_platform("procore"), get_platform("dynamics")
    bc = {"@odata.etag": 'W/"1"', "lastModifiedDateTime": "2026-01-01T00:00:00Z", "currencyCode": "QAR"}
    assert dynamics.etag(bc) == 'W/"1"' and dynamics.updated_at(bc) == "2026-01-01T00:00:00Z"
    assert dynamics.record_currency(bc) == "QAR" and dynamics.record_currency({"currencyCode": ""}) is None
    assert procore.etag({"updated_at": "x"}) is None and procore.updated_at({"updated_at": "x"}) == "x"
    assert procore.record_currency({}) == "USD"
    assert procore.record_currency({"currency_configuration": {"currency_iso_code": "AED"}}) == "AED"
    assert dynamics.number_field("project") == "number" and procore.number_field("project") == "project_number"
    assert LEDGER.number_field("invoice") is None and LEDGER.number_field("contract") == "ref"


def test_synced_entity_types_follow_the_business_keys() -> None:
    assert get_platform("procore").synced_entity_types == ("project", "customer", "contract", "invoice", "payment")
    assert LEDGER.synced_entity_types == ("project", "customer", "contract")


def test_live_settings_messages() -> None:
    one = LiveSettingsRule(required=("company_id",), label="Procore")
    many = LiveSettingsRule(required=("tenant", "environment", "company_id"), label="Dynamics")
    assert one.missing_message({"company_id": "1"}) is None
    assert one.missing_message({}) == "settings.company_id is required for Procore"
    assert many.missing_message({"tenant": "t"}) == (
        "settings.tenant, settings.environment and settings.company_id are required for Dynamics"
    )


def test_procore_webhook_events() -> None:
    parse = get_platform("procore").webhooks.parse
    delivery = parse({"resource_name": "Contract Payments", "resource_id": 1823456, "ulid": "01J", "event_type": "update"}, "k")
    assert [(e.api_key, e.entity_type, e.platform_id, e.delivery_key) for e in delivery.events] == [
        ("k", "payment", "1823456", "01J")
    ]
    # A delete names its record like any change (reading it fresh confirms the deletion).
    deleted = parse({"resource_name": "projects", "resource_id": 1, "ulid": "01D", "event_type": "delete"}, "k")
    assert [(e.entity_type, e.platform_id, e.delivery_key) for e in deleted.events] == [("project", "1", "01D")]
    assert parse({"resource_name": "RFIs", "resource_id": 1}, "k").received == 1
    with pytest.raises(WebhookShapeError):
        parse({"id": 1}, "k")
    assert get_platform("procore").webhooks.requires_header_key


def test_procore_payload_versions_and_resource_names() -> None:
    parse = get_platform("procore").webhooks.parse

    def events(body: Mapping[str, object]) -> list[tuple[str, str, str]]:
        return [(e.entity_type, e.platform_id, e.delivery_key) for e in parse(body, "k").events]

    # v4.0: string ids, `reason`, `resource_type`, the id is the ULID (payload_formats.md).
    v4 = {"id": "01JMYXMZRBVKK0PC6XS8SA4QRE", "timestamp": "2025-02-25T16:04:43Z", "reason": "update",
          "company_id": "8", "project_id": "6778", "user_id": "5447",
          "resource_type": "Contract Payments", "resource_id": "1823456"}
    assert events(v4) == [("payment", "1823456", "01JMYXMZRBVKK0PC6XS8SA4QRE")]
    assert events({**v4, "id": "01JMYXN0", "reason": "delete"}) == [("payment", "1823456", "01JMYXN0")]
    # Vendor events come from the company directory as "Company Vendors".
    v2 = {"id": 9, "ulid": "01K", "api_version": "v2.0", "event_type": "create", "resource_name": "Company Vendors",
          "resource_id": 501004, "company_id": 4271100}
    assert events(v2) == [("customer", "501004", "01K")]
    # v3.0: a line item changes its contract's total; related_resources names the contract.
    v3 = {**v2, "api_version": "v3.0", "event_type": "update", "resource_name": "Work Order Contract Line Items",
          "resource_id": 379913, "related_resources": [{"id": 1945782, "name": "Work Order Contracts"}]}
    assert events(v3) == [("contract", "1945782", "01K")]
    assert events({**v3, "related_resources": []}) == []


def test_business_central_notifications() -> None:
    webhooks = get_platform("dynamics").webhooks
    assert webhooks.handshake({"validationToken": "abc"}) == "abc"
    assert webhooks.handshake({}) is None
    guid = "a34e74db-53c7-4368-8fe7-bb87c83c7902"
    body = {
        "value": [
            {"subscriptionId": "s", "clientState": "key", "changeType": "updated",
             "resource": f"api/v2.0/companies(x)/customerPayments({guid})", "lastModifiedDateTime": "t"},
            {"changeType": "deleted", "resource": f"customerPayments({guid})"},
            {"changeType": "updated", "resource": f"items({guid})"},
            {"changeType": "created", "clientState": 5, "resource": f"salesInvoices({guid})"},
        ]
    }
    delivery = webhooks.parse(body, None)
    assert delivery.received == 4
    assert [(e.api_key, e.entity_type) for e in delivery.events] == [
        ("key", "payment"),
        (None, "payment"),  # a deletion: followed like a change (a fresh read confirms it)
        (None, "invoice"),
    ]
    with pytest.raises(WebhookShapeError):
        webhooks.parse({"value": "x"}, None)
    assert webhooks.acknowledge_unusable  # BC deletes a subscription whose notification is refused
    burst = {"value": [{"subscriptionId": "s", "clientState": "key", "changeType": "collection",
                        "resource": "api/v2.0/companies(x)/salesInvoices", "lastModifiedDateTime": "t"}]}
    [collection] = webhooks.parse(burst, None).events
    assert (collection.entity_type, collection.platform_id, collection.collection) == ("invoice", "", True)
