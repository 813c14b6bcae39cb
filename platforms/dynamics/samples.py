"""Realistic Business Central API v2.0 records for all nine entity types (GET shape).

The BC side of the Procore samples' records (``platforms.procore.samples``). Money is ``Decimal``, as
a JSON parser with ``parse_float=Decimal`` gives it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from platforms.dynamics.metadata import ENTITY_TYPES, whole

NativeRecord = dict[str, Any]

_ETAG: Final = 'W/"JzQ0O0ZyRWZ0cG5qQ2tqRW5tQ2VzWk1Rdz09MTswMDsn"'
BC_PAYMENT_ID: Final = "a34e74db-53c7-4368-8fe7-bb87c83c7902"

# Deterministic GUIDs of the BC side of the same records.
BC_IDS: Final = {
    "project": "5f6b8a34-1d2e-4c7a-9b1e-2a3c4d5e6f70",
    "customer": "0c9e2d41-7b3a-4f52-8e61-93a4b5c6d7e8",
    "contract": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "invoice": "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7",
    "payment": BC_PAYMENT_ID,
    "employee": "9b8a7c6d-5e4f-4321-a0b9-c8d7e6f5a4b3",
    "time_entry": "2d3c4b5a-6978-4e1f-b2a3-c4d5e6f7a8b9",
    "change_order": "8c7b6a59-4837-4261-90ab-cdef01234567",
    "budget_line_item": "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
}


_SAMPLES: Final[dict[str, NativeRecord]] = {
    "project": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["project"],
        "number": "LBT-2401",
        "displayName": "Lusail Boulevard Tower",
        "lastModifiedDateTime": "2025-03-04T07:21:09.113Z",
    },
    "customer": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["customer"],
        "number": "C00010",
        "displayName": "Doha Infrastructure Partners W.L.L.",
        "type": "Company",
        "addressLine1": "Al Corniche Street, Tower 3",
        "addressLine2": "",
        "city": "Doha",
        "state": "",
        "country": "QA",
        "postalCode": "",
        "phoneNumber": "+974 4412 7700",
        "email": "accounts@dohainfra.qa",
        "website": "",
        "taxLiable": False,
        "taxRegistrationNumber": "5000317214",
        "currencyId": "00000000-0000-0000-0000-000000000000",
        "currencyCode": "QAR",
        "blocked": "_x0020_",
        "balanceDue": Decimal("6188000.00"),
        "lastModifiedDateTime": "2025-02-12T06:40:12.506Z",
    },
    "contract": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["contract"],
        "number": "SO-1001",
        "externalDocumentNumber": "C-LEX-001",
        "orderDate": "2025-03-20",
        "postingDate": "2025-03-20",
        "customerId": BC_IDS["customer"],
        "customerNumber": "C00010",
        "customerName": "Doha Infrastructure Partners W.L.L.",
        "currencyId": "00000000-0000-0000-0000-000000000000",
        "currencyCode": "QAR",
        "pricesIncludeTax": False,
        "totalAmountExcludingTax": Decimal("30940000.00"),
        "totalTaxAmount": Decimal("0"),
        "totalAmountIncludingTax": Decimal("30940000.00"),
        "fullyShipped": False,
        # Released: the API's salesOrder status has no Released, a released order reads Open.
        "status": "Open",
        "shortcutDimension1Code": "LBT-2401",
        "shortcutDimension2Code": "",
        "requestedDeliveryDate": "0001-01-01",
        "lastModifiedDateTime": "2025-03-20T08:03:51.220Z",
    },
    "invoice": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["invoice"],
        "number": "PS-INV103001",
        "externalDocumentNumber": "INV-2025-0061",
        "invoiceDate": "2025-12-28",
        "postingDate": "2025-12-28",
        "dueDate": "2026-01-27",
        "promisedPayDate": "0001-01-01",
        "customerId": BC_IDS["customer"],
        "customerNumber": "C00010",
        "customerName": "Doha Infrastructure Partners W.L.L.",
        "orderId": BC_IDS["contract"],
        "orderNumber": "SO-1001",
        "currencyId": "00000000-0000-0000-0000-000000000000",
        "currencyCode": "QAR",
        "totalAmountExcludingTax": Decimal("6188000.00"),
        "totalTaxAmount": Decimal("0"),
        "totalAmountIncludingTax": Decimal("6188000.00"),
        "remainingAmount": Decimal("6188000.00"),
        "status": "Open",
        "shortcutDimension1Code": "LBT-2401",
        "lastModifiedDateTime": "2025-12-28T09:11:40.087Z",
    },
    "payment": {
        "@odata.etag": _ETAG,
        "id": BC_PAYMENT_ID,
        "journalId": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9",
        "journalDisplayName": "CASHRCPT",
        "lineNumber": 10000,
        "customerId": BC_IDS["customer"],
        "customerNumber": "C00010",
        "postingDate": "2026-02-01",
        "documentNumber": "CHK-2026-0101",
        "externalDocumentNumber": "INV-2025-0061",
        "amount": Decimal("6188000.00"),
        "appliesToInvoiceId": BC_IDS["invoice"],
        "appliesToInvoiceNumber": "PS-INV103001",
        "description": "Substructure progress payment #1",
        "comment": "",
        "lastModifiedDateTime": "2026-02-01T10:02:17.400Z",
    },
    "employee": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["employee"],
        "number": "EMP-0412",
        "displayName": "Hamad Al-Kuwari",
        "givenName": "Hamad",
        "middleName": "",
        "surname": "Al-Kuwari",
        "jobTitle": "Site Engineer",
        "email": "h.alkuwari@lexwell.qa",
        "personalEmail": "",
        "phoneNumber": "",
        "mobilePhone": "+974 5512 3344",
        "employmentDate": "2023-09-17",
        "terminationDate": "0001-01-01",
        "status": "Active",
        "birthDate": "0001-01-01",
        "lastModifiedDateTime": "2025-01-08T12:00:00Z",
    },
    "time_entry": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["time_entry"],
        "employeeId": BC_IDS["employee"],
        "employeeNumber": "EMP-0412",
        "jobId": BC_IDS["project"],
        "jobNumber": "LBT-2401",
        "jobTaskNumber": "03-300",
        "absence": "",
        "lineNumber": 10000,
        "date": "2026-02-03",
        "quantity": Decimal("8"),
        "status": "Approved",
        "unitOfMeasureCode": "HOUR",
        "lastModfiedDateTime": "2026-02-04T06:00:00Z",
    },
    "change_order": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["change_order"],
        "number": "CO-001",
        "description": "Additional secant piles, grid C",
        "status": "Approved",
        "amount": Decimal("910.00"),
        "currencyCode": "QAR",
        "salesOrderId": BC_IDS["contract"],
        "lastModifiedDateTime": "2025-08-16T07:00:00Z",
    },
    "budget_line_item": {
        "@odata.etag": _ETAG,
        "id": BC_IDS["budget_line_item"],
        "jobNumber": "LBT-2401",
        "jobTaskNumber": "03-300",
        "lineNumber": 10000,
        "lineType": "Budget",
        "type": "Resource",
        "number": "SUBCON",
        "description": "Raft foundation concrete",
        "quantity": Decimal("1"),
        "totalCost": Decimal("4550000.00"),
        "currencyCode": "QAR",
        "lastModifiedDateTime": "2025-03-05T08:00:00Z",
    },
}


#: Whole records, as BC sends them: the standard API's types carry every ``$metadata`` property
#: (BC's empty value where the sample sets none); the partner custom APIs' shapes are as above.
SAMPLES: Final[dict[str, NativeRecord]] = {
    entity_type: whole(ENTITY_TYPES[entity_type], record) if entity_type in ENTITY_TYPES else record
    for entity_type, record in _SAMPLES.items()
}
