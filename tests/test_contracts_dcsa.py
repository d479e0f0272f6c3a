"""Every DCSA transport document example and conformance template maps into an accepted
``bl.issue`` (client/dcsa.py, which carriers use to build the transaction)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client import dcsa
from contracts import queries
from contracts.testing import Network
from ledger.crypto import sha256

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "dcsa"
EXAMPLES = sorted((TESTDATA / "examples").glob("*.json"))
TEMPLATES = sorted((TESTDATA / "conformance-gateway").glob("*.json"))
NOT_A_TRANSPORT_DOCUMENT = ("eblsurrender-api-",)  # a surrender request, not a document

PLACEHOLDERS = {
    "{CBR}": "CBR-2026-0001",
    "TRANSPORT_DOCUMENT_REFERENCE_PLACEHOLDER": "TDR-2026-0001",
    "SHIPPING_INSTRUCTION_REFERENCE_PLACEHOLDER": "SIR-2026-0001",
    "BOOKING_REFERENCE_PLACEHOLDER": "CBR-2026-0002",
    "SHIPPER_LEGAL_NAME_PLACEHOLDER": "Seller BV",
    "SHIPPER_PARTY_CODE_PLACEHOLDER": "SELLER-1",
    "SHIPPER_CODE_LIST_NAME_PLACEHOLDER": "LEI",
    "CONSIGNEE_LEGAL_NAME_PLACEHOLDER": "Buyer Pte Ltd",
    "CONSIGNEE_PARTY_CODE_PLACEHOLDER": "BUYER-1",
    "CONSIGNEE_CODE_LIST_NAME_PLACEHOLDER": "LEI",
    "ISSUING_PARTY_LEGAL_NAME_PLACEHOLDER": "Carrier AS",
    "ISSUING_PARTY_PARTY_CODE_PLACEHOLDER": "CARRIER-1",
    "ISSUING_PARTY_CODE_LIST_NAME_PLACEHOLDER": "LEI",
    "ISSUE_TO_LEGAL_NAME_PLACEHOLDER": "Seller BV",
    "ISSUE_TO_PARTY_CODE_PLACEHOLDER": "SELLER-1",
    "ISSUE_TO_CODE_LIST_NAME_PLACEHOLDER": "LEI",
    "SEND_TO_PLATFORM_PLACEHOLDER": "WAVE",
}
# What a carrier adds when it drafts a transport document from shipping instructions.
CARRIER_ADDITIONS: dict[str, Any] = {
    "transports": {
        "portOfLoading": {"UNLocationCode": "NLRTM"},
        "portOfDischarge": {"UNLocationCode": "SGSIN"},
        "vesselVoyages": [{"vesselName": "MSC Gülsün", "carrierExportVoyageNumber": "402E"}],
    },
    "issue_date": "2026-01-01",
}


def load(path: Path) -> tuple[Any, bytes]:
    text = path.read_text(encoding="utf-8")
    if path.parent.name == "conformance-gateway":
        text = dcsa.fill_template(text, PLACEHOLDERS)
    value = dcsa.load_json(text)
    if path.parent.name == "examples":
        value = value["value"]
    return value, text.encode()


def is_transport_document_source(path: Path) -> bool:
    if path.name.startswith(NOT_A_TRANSPORT_DOCUMENT):
        return False
    value, _ = load(path)
    try:
        dcsa.find_transport_document(value)
    except ValueError:
        return False
    return True


SOURCES = [p for p in EXAMPLES + TEMPLATES if is_transport_document_source(p)]


def test_sources_found() -> None:
    # 13 examples (documents, drafts, amendments, notifications, issuance, PINT) and 12
    # conformance templates (10 shipping-instruction based, issuance request, PINT document)
    assert len([p for p in SOURCES if p.parent.name == "examples"]) >= 11
    assert len([p for p in SOURCES if p.parent.name == "conformance-gateway"]) == 12


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name[:70])
def test_transport_document_maps_into_an_accepted_issue(path: Path) -> None:
    value, raw = load(path)
    document = dcsa.find_transport_document(value)
    to_order = document["isToOrder"]
    details = dcsa.IssueDetails(
        issue_to="seller",
        document_sha256=sha256(raw),
        endorsee="seller" if to_order else None,
        consignee=None if to_order else "buyer",
        reference=f"TDR-{path.stem[-12:]}",
        issue_date=CARRIER_ADDITIONS["issue_date"],
        transports=CARRIER_ADDITIONS["transports"],
    )
    body = dcsa.issue_body(document, details)
    net = Network()
    code, tx, result = net.run("carrier", "bl.issue", body)
    assert code == "ok", result.details
    record = queries.document(net.state, tx.id.hex())
    assert record is not None
    data = record["data"]
    assert isinstance(data, dict)
    goods = data["goods"]
    assert isinstance(goods, list)
    assert len(goods) == len(document["consignmentItems"])
    hs_codes = [code for item in document["consignmentItems"] for code in item["HSCodes"]]
    assert [c for g in goods if isinstance(g, dict) for c in g["hs_codes"]] == hs_codes  # type: ignore[union-attr]
    assert record["reference"] == (document.get("transportDocumentReference") or details.reference)
    assert data["shipper"] == body["bill"]["shipper"]  # type: ignore[index,call-overload]


def test_weights_are_exact_integers() -> None:
    assert dcsa._milli(dcsa.load_json("12000.5"), "w") == 12_000_500
    with pytest.raises(ValueError, match="decimals"):
        dcsa._milli(dcsa.load_json("1.0005"), "w")
    with pytest.raises(ValueError, match="number"):
        dcsa._milli(1.5, "w")


def test_missing_transports_is_named() -> None:
    value, raw = load(TESTDATA / "conformance-gateway" / "ebl-api-3.0.0-straight-bl.json")
    details = dcsa.IssueDetails(issue_to="seller", document_sha256=sha256(raw))
    with pytest.raises(ValueError, match="transports"):
        dcsa.issue_body(dcsa.find_transport_document(value), details)
