"""Mapping a DCSA eBL 3.0 transport document into a ``bl.issue`` transaction body.

This is the carrier's side of issuing a bill, so it lives in the client (which may import
only `ledger`); tests/test_contracts_dcsa.py shows every DCSA example maps into a body the
contract accepts.

The ledger keeps what identifies the bill and what its holders, banks and customs check
(parties, route, goods with HS codes, packages and weights, dates, freight terms) and binds
everything else through ``document_sha256``, the SHA-256 of the document file the carrier
signed. docs/contracts.md lists the fields kept and dropped.

DCSA JSON carries decimals (weights, charges) as JSON numbers. Parse with `load_json`, which
reads them as `Decimal`, never float; weights become integer thousandths (``*_milli``).

Conformance templates from the DCSA toolkit contain placeholders (``{CBR}``,
``TRANSPORT_DOCUMENT_REFERENCE_PLACEHOLDER``, ...); `fill_template` substitutes them. Some
templates are shipping instructions, which lack what only the carrier adds when it drafts
the transport document (reference, transports, issue date); `IssueDetails` supplies those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.codec import Value
from ledger.errors import ValidationError

MILLI = 1000
DESCRIPTION_SEPARATOR = "\n"


def load_json(text: str) -> Any:
    """Parse DCSA JSON with decimals as `Decimal` (floats never reach the ledger)."""
    return json.loads(text, parse_float=Decimal)


def fill_template(text: str, values: Mapping[str, str]) -> str:
    """Replace each placeholder token (a key of `values`) in a template's text by its value,
    escaped as JSON string content (the placeholders stand inside JSON strings)."""
    for token, value in sorted(values.items(), key=lambda item: -len(item[0])):
        text = text.replace(token, json.dumps(value)[1:-1])
    return text


def find_transport_document(value: Any) -> Mapping[str, Any]:
    """The transport document inside a DCSA message: the message itself, or its
    ``document`` (issuance request), ``transportDocument`` (PINT envelope),
    ``data.transportDocument`` (notification) or ``amendedTransportDocument`` member."""
    if not isinstance(value, Mapping):
        raise ValidationError("dcsa", "expected a JSON object")
    for path in (("document",), ("transportDocument",), ("amendedTransportDocument",)):
        inner = value.get(path[0])
        if isinstance(inner, Mapping) and "consignmentItems" in inner:
            return inner
    data = value.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("transportDocument"), Mapping):
        document: Mapping[str, Any] = data["transportDocument"]
        return document
    if "consignmentItems" in value:
        return value
    raise ValidationError("dcsa", "no transport document found")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueDetails:
    """What the ledger needs besides the DCSA document.

    `issue_to` is the ledger organisation that becomes the first holder (DCSA's issueTo
    party); `endorsee` (to-order) or `consignee` (straight) name ledger organisations too.
    `reference`, `issue_date` and `transports` are used only where the document lacks them
    (a shipping instruction, a draft): the carrier's own additions.
    """

    issue_to: str
    document_sha256: bytes
    endorsee: str | None = None
    consignee: str | None = None
    reference: str | None = None
    issue_date: str | None = None
    transports: Mapping[str, Any] | None = None


def issue_body(document: Mapping[str, Any], details: IssueDetails) -> dict[str, Value]:
    """The ``bl.issue`` body for a DCSA transport document (raises ValidationError naming
    the DCSA field if something the ledger requires is missing)."""
    to_order = _boolean(document, "isToOrder")
    transports = document.get("transports", details.transports)
    if not isinstance(transports, Mapping):
        raise ValidationError("transports", "is required (supply IssueDetails.transports)")
    parties = _mapping(document, "documentParties")
    reference = document.get("transportDocumentReference") or details.reference
    issue_date = document.get("issueDate") or details.issue_date
    if not isinstance(reference, str):
        raise ValidationError("transportDocumentReference", "is required")
    if not isinstance(issue_date, str):
        raise ValidationError("issueDate", "is required (supply IssueDetails.issue_date)")
    bill: dict[str, Value] = {
        "document_type": _text(document, "transportDocumentTypeCode"),
        "shipper": _party(_mapping(parties, "shipper")),
        "consignee": _optional_party(parties.get("consignee")),
        "notify_parties": [_party(p) for p in _list(parties, "notifyParties")],
        "issuing_party": _optional_party(parties.get("issuingParty")),
        "carrier_code": document.get("carrierCode"),
        "carrier_code_list_provider": document.get("carrierCodeListProvider"),
        "shipping_instructions_reference": document.get("shippingInstructionsReference"),
        "vessel_voyages": [
            {"vessel_name": _text(v, "vesselName"), "voyage": _text(v, "carrierExportVoyageNumber")}
            for v in _list(transports, "vesselVoyages")
        ],
        "port_of_loading": _location(transports, "portOfLoading"),
        "port_of_discharge": _location(transports, "portOfDischarge"),
        "place_of_receipt": _optional_location(transports, "placeOfReceipt"),
        "place_of_delivery": _optional_location(transports, "placeOfDelivery"),
        "goods": [_goods_item(item) for item in _list(document, "consignmentItems")],
        "equipment": [_equipment(e) for e in _list(document, "utilizedTransportEquipments")],
        "issue_date": issue_date,
        "shipped_on_board_date": document.get("shippedOnBoardDate"),
        "received_for_shipment_date": document.get("receivedForShipmentDate"),
        "is_shipped_on_board": _boolean(document, "isShippedOnBoardType"),
        "freight_payment_term": _text(document, "freightPaymentTermCode"),
    }
    body: dict[str, Value] = {
        "bill": _drop_empty(bill),
        "document_sha256": details.document_sha256,
        "issue_to": details.issue_to,
        "reference": reference,
        "to_order": to_order,
    }
    if to_order and details.endorsee is not None:
        body["endorsee"] = details.endorsee
    if not to_order and details.consignee is not None:
        body["consignee"] = details.consignee
    return body


def _goods_item(item: Mapping[str, Any]) -> dict[str, Value]:
    descriptions = [str(line) for line in _list(item, "descriptionOfGoods")]
    return _drop_empty(
        {
            "description": DESCRIPTION_SEPARATOR.join(descriptions),
            "hs_codes": [str(code) for code in _list(item, "HSCodes")],
            "booking_reference": item.get("carrierBookingReference"),
            "cargo_items": [_cargo_item(c) for c in _list(item, "cargoItems")],
        }
    )


def _cargo_item(item: Mapping[str, Any]) -> dict[str, Value]:
    weight = _mapping(item, "cargoGrossWeight")
    packaging = item.get("outerPackaging")
    packaging = packaging if isinstance(packaging, Mapping) else {}
    return _drop_empty(
        {
            "equipment_reference": item.get("equipmentReference"),
            "packages": int(packaging.get("numberOfPackages", 0)),
            "package_code": packaging.get("packageCode"),
            "package_description": packaging.get("description"),
            "gross_weight_milli": _milli(weight.get("value"), "cargoGrossWeight.value"),
            "weight_unit": _text(weight, "unit"),
        }
    )


def _equipment(item: Mapping[str, Any]) -> dict[str, Value]:
    equipment = item.get("equipment")
    equipment = equipment if isinstance(equipment, Mapping) else {}
    reference = equipment.get("equipmentReference") or item.get("equipmentReference")
    if not isinstance(reference, str):
        raise ValidationError("utilizedTransportEquipments.equipmentReference", "is required")
    return _drop_empty(
        {
            "reference": reference,
            "iso_code": equipment.get("ISOEquipmentCode"),
            "seals": [_text(seal, "number") for seal in _list(item, "seals")],
        }
    )


def _party(party: Mapping[str, Any]) -> dict[str, Value]:
    lines = [str(line) for line in party.get("displayedAddress", []) or []]
    address = party.get("address")
    country = None
    if isinstance(address, Mapping):
        street = " ".join(
            str(address[k]) for k in ("street", "streetNumber") if address.get(k) is not None
        )
        city = " ".join(str(address[k]) for k in ("postCode", "city") if address.get(k))
        lines.extend(line for line in (street, city) if line)
        country = address.get("countryCode")
    codes: list[Value] = [
        _drop_empty(
            {
                "provider": _text(code, "codeListProvider"),
                "code": _text(code, "partyCode"),
                "list": code.get("codeListName"),
            }
        )
        for code in party.get("identifyingCodes", []) or []
    ]
    return _drop_empty(
        {
            "name": _text(party, "partyName"),
            "address": list(lines[:8]),
            "country": country,
            "codes": codes[:8],
        }
    )


def _optional_party(party: Any) -> dict[str, Value] | None:
    return _party(party) if isinstance(party, Mapping) else None


def _location(transports: Mapping[str, Any], name: str) -> str:
    location = _optional_location(transports, name)
    if location is None:
        raise ValidationError(f"transports.{name}.UNLocationCode", "is required")
    return location


def _optional_location(transports: Mapping[str, Any], name: str) -> str | None:
    location = transports.get(name)
    if not isinstance(location, Mapping):
        return None
    code = location.get("UNLocationCode")
    return code if isinstance(code, str) else None


def _milli(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValidationError(path, "expected a number (parse DCSA JSON with load_json)")
    scaled = Decimal(value) * MILLI
    if scaled != scaled.to_integral_value():
        raise ValidationError(path, f"{value} has more than 3 decimals")
    return int(scaled)


def _mapping(value: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    inner = value.get(name)
    if not isinstance(inner, Mapping):
        raise ValidationError(name, "is required (an object)")
    return inner


def _list(value: Mapping[str, Any], name: str) -> list[Any]:
    inner = value.get(name, [])
    if not isinstance(inner, list):
        raise ValidationError(name, "expected a list")
    return inner


def _text(value: Mapping[str, Any], name: str) -> str:
    inner = value.get(name)
    if not isinstance(inner, str):
        raise ValidationError(name, "is required (text)")
    return inner


def _boolean(value: Mapping[str, Any], name: str) -> bool:
    inner = value.get(name)
    if not isinstance(inner, bool):
        raise ValidationError(name, "is required (true or false)")
    return inner


def _drop_empty(value: dict[str, Any]) -> dict[str, Value]:
    return {k: v for k, v in value.items() if v is not None and v != [] and v != ""}
