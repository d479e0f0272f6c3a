"""The client's body builders (client/bodies.py) against the real contracts.

The client may not import `contracts`, so it writes every body shape a second time; here
each builder's output is executed by the contracts (contracts.testing.Network) through a
whole trade, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client import bodies, dcsa
from client.bodies import Bill, CertificateGoodsItem, Party
from client.errors import InvalidArgument
from contracts import queries
from contracts.testing import Network, seeded_key, sha
from ledger.codec import Value

SELLER: Party = {"name": "Seller BV", "address": ["Main 1", "Rotterdam"], "country": "NL"}
BUYER: Party = {"name": "Buyer Pte Ltd", "country": "SG"}
UETR = "3f2a6c1e-8b4d-4e7a-9c2b-1d5e6f7a8b9c"


def bill(reference: str = "BL-1") -> Bill:
    return {
        "document_type": "BOL",
        "shipper": SELLER,
        "vessel_voyages": [{"vessel_name": "MSC Gülsün", "voyage": "402E"}],
        "port_of_loading": "NLRTM",
        "port_of_discharge": "SGSIN",
        "goods": [
            {
                "description": "Shoes - black",
                "hs_codes": ["640510"],
                "cargo_items": [
                    {"packages": 400, "gross_weight_milli": 12_000_000, "weight_unit": "KGM"}
                ],
            }
        ],
        "equipment": [{"reference": "MSKU1234565", "seals": ["SEAL1"]}],
        "issue_date": "2026-01-01",
        "is_shipped_on_board": True,
        "freight_payment_term": "PRE",
    }


GOODS: list[CertificateGoodsItem] = [
    {
        "description": "Shoes - black",
        "hs_code": "640510",
        "quantity": 400,
        "unit": "NAR",
        "origin_country": "NL",
        "origin_criterion": "WO",
    }
]


def ok(net: Network, signer: str, kind: str, body: dict[str, Value], admin: bool = False) -> str:
    code, tx, result = net.run(signer, kind, body, admin=admin)
    assert code == "ok", (kind, result.details)
    return tx.id.hex()


def attestation(
    reference: str, bill_id: str, coo_id: str, file: str = "mt103/1"
) -> dict[str, Value]:
    return bodies.pay_attest(
        reference=reference,
        uetr=UETR,
        beneficiary_bank="bank2",
        direction="sent",
        payer=BUYER,
        payee=SELLER,
        payer_bank_bic="DBSSSGSGXXX",
        payee_bank_bic="INGBNL2A",
        amount_minor=1_250_000,
        currency="EUR",
        value_date="2026-01-05",
        end_to_end_id="E2E-1",
        references={
            "invoice": "INV-1",
            "bill_of_lading": bill_id,
            "certificate_of_origin": coo_id,
        },
        document_sha256=sha(file),
    )


def test_a_whole_trade_built_by_the_client_is_accepted() -> None:
    net = Network()
    document = ok(
        net,
        "carrier",
        "bl.issue",
        bodies.bl_issue(
            reference="BL-1",
            issue_to="seller",
            to_order=True,
            endorsee="seller",
            document_sha256=sha("bill/BL-1"),
            bill=bill(),
        ),
    )
    certificate = ok(
        net,
        "chamber",
        "coo.issue",
        bodies.coo_issue(
            reference="COO-1",
            document_sha256=sha("coo/1"),
            exporter=SELLER,
            importer=BUYER,
            producer=SELLER,
            country_of_export="NL",
            country_of_import="SG",
            goods=GOODS,
            transport={"mode": "sea", "vessel_name": "MSC Gülsün", "port_of_loading": "NLRTM"},
            invoice_reference="INV-1",
            issue_date="2026-01-02",
            expiry_date="2027-01-01",
            bill_of_lading=document,
            exporter_organisation="seller",
            importer_organisation="buyer",
        ),
    )
    payment = ok(net, "bank", "pay.attest", attestation("PAY-1", document, certificate))
    ok(net, "bank2", "pay.confirm", bodies.document_only(payment))
    ok(net, "seller", "bl.endorse", bodies.bl_endorse(document, "ENDORSE_TO_ORDER", "buyer"))
    ok(net, "seller", "bl.transfer", bodies.bl_transfer(document, "buyer", net.height + 10))
    ok(net, "buyer", "bl.accept", bodies.document_only(document))
    ok(net, "customs", "coo.verify", bodies.coo_verify(certificate, "accepted"))
    ok(
        net,
        "customs",
        "coo.verify",
        bodies.coo_verify(certificate, "query", "origin?", declaration_reference="DECL-1"),
    )
    ok(
        net,
        "customs",
        "customs.record",
        bodies.customs_record(
            reference="CLR-1",
            decision="clearance",
            outcome="released",
            documents=[document, certificate, payment],
            declaration_reference="DECL-1",
        ),
    )
    ok(
        net,
        "buyer",
        "bl.surrender",
        bodies.bl_surrender(document, "delivery", comments="goods arrived"),
    )
    ok(net, "carrier", "bl.surrender_accept", bodies.document_only(document))
    record = queries.document(net.state, document)
    assert record is not None
    assert record["status"] == "surrendered_for_delivery"
    corrected = ok(
        net,
        "bank",
        "pay.correct",
        bodies.pay_correct(payment, attestation("PAY-1", document, certificate, "mt103/2")),
    )
    ok(net, "bank", "pay.revoke", bodies.document_reason(corrected, "sent twice"))
    ok(net, "chamber", "coo.revoke", bodies.document_reason(certificate, "origin not proven"))


def test_straight_bills_cancel_void_and_amendment() -> None:
    net = Network()
    straight = ok(
        net,
        "carrier",
        "bl.issue",
        bodies.bl_issue(
            reference="BL-S",
            issue_to="seller",
            to_order=False,
            consignee="buyer",
            document_sha256=sha("bill/BL-S"),
            bill=bill("BL-S") | {"consignee": BUYER},
        ),
    )
    ok(net, "seller", "bl.transfer", bodies.bl_transfer(straight, "buyer", net.height + 10))
    ok(net, "seller", "bl.cancel", bodies.document_only(straight))
    ok(net, "carrier", "bl.void", bodies.document_reason(straight, "issued in error"))

    blank = ok(
        net,
        "carrier",
        "bl.issue",
        bodies.bl_issue(
            reference="BL-A",
            issue_to="seller",
            to_order=True,
            document_sha256=sha("bill/BL-A"),
            bill=bill("BL-A"),
        ),
    )
    surrender = bodies.bl_surrender(blank, "amendment", reason_code="COD", comments="new port")
    ok(net, "seller", "bl.surrender", surrender)
    ok(net, "carrier", "bl.surrender_reject", bodies.document_reason(blank, "not yet"))
    ok(net, "seller", "bl.surrender", surrender)
    ok(net, "carrier", "bl.surrender_accept", bodies.document_only(blank))
    amended = bill("BL-A") | {"port_of_discharge": "MYPKG"}
    ok(net, "carrier", "bl.amend", bodies.bl_amend(blank, "BL-A", sha("bill/BL-A/2"), amended))
    ok(net, "carrier", "bl.issue", dcsa_issue_body())
    ok(net, "seller", "bl.endorse", bodies.bl_endorse(blank_bill(net), "BLANK_ENDORSE"))


def blank_bill(net: Network) -> str:
    found = queries.by_reference(net.state, "bl", "carrier", "TDR-client")
    assert isinstance(found, str)
    return found


def dcsa_issue_body() -> dict[str, Value]:
    path = DCSA / "conformance-gateway" / "ebl-api-3.0.0-negotiable-bl.json"
    text = dcsa.fill_template(path.read_text(encoding="utf-8"), PLACEHOLDERS)
    document = dcsa.find_transport_document(dcsa.load_json(text))
    details = dcsa.IssueDetails(
        issue_to="seller",
        endorsee="seller",
        document_sha256=sha(text),
        reference="TDR-client",
        issue_date="2026-01-01",
        transports=TRANSPORTS,
    )
    return dcsa.issue_body(document, details)


def test_membership_and_governance() -> None:
    net = Network(governance_threshold=2, admins_per_organisation=2)
    clerk = seeded_key("seller/clerk-2").public_key
    successor = seeded_key("seller/clerk-3").public_key
    ok(net, "seller", "member.register", bodies.member_register(clerk, "clerk 2"), admin=True)
    ok(net, "seller", "member.rotate", bodies.member_rotate(clerk, successor), admin=True)
    ok(net, "seller", "member.revoke", bodies.member_revoke(successor), admin=True)
    params = bodies.org_add_params(
        organisation_id="forwarder-1",
        name="Forwarder One",
        country="DE",
        roles=["seller", "buyer"],
        admin_keys=[seeded_key("forwarder-1/admin").public_key],
    )
    proposal = ok(
        net, "gov", "gov.propose", bodies.gov_propose("org.add", params, net.height + 50), True
    )
    code, _, _ = net.run(net.key("gov", admin=True, index=1), "gov.approve", {"proposal": proposal})
    assert code == "ok"
    assert queries.organisation(net.state, "forwarder-1") is not None
    suspend = bodies.gov_propose(
        "org.suspend", bodies.org_change_params("forwarder-1", "dormant"), net.height + 50
    )
    ok(net, "gov", "gov.propose", suspend, admin=True)
    validator = bodies.gov_propose(
        "validator.set",
        bodies.validator_set_params(seeded_key("node/1").public_key, "gov", 1),
        net.height + 50,
    )
    ok(net, "gov", "gov.propose", validator, admin=True)
    approve = bodies.gov_approve(proposal)
    assert net.run(net.key("gov", admin=True, index=1), "gov.approve", approve)[0] == (
        "proposal_closed"
    )


# --- DCSA: the client's mapping is the contracts' mapping --------------------------------------

DCSA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "dcsa"
PLACEHOLDERS = {
    "{CBR}": "CBR-2026-0001",
    "TRANSPORT_DOCUMENT_REFERENCE_PLACEHOLDER": "TDR-2026-0001",
    "SHIPPING_INSTRUCTION_REFERENCE_PLACEHOLDER": "SIR-2026-0001",
    "BOOKING_REFERENCE_PLACEHOLDER": "CBR-2026-0002",
}
TRANSPORTS: dict[str, Any] = {
    "portOfLoading": {"UNLocationCode": "NLRTM"},
    "portOfDischarge": {"UNLocationCode": "SGSIN"},
    "vesselVoyages": [{"vesselName": "MSC Gülsün", "carrierExportVoyageNumber": "402E"}],
}


# --- refusals before signing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: bodies.document_only("ABC"), "document"),
        (lambda: bodies.bl_transfer("0" * 64, "bad org!", 10), "recipient"),
        (lambda: bodies.bl_endorse("0" * 64, "ENDORSE"), "endorsee"),
        (lambda: bodies.bl_endorse("0" * 64, "SELL"), "action"),
        (lambda: bodies.bl_surrender("0" * 64, "delivery", reason_code="COD"), "reason_code"),
        (lambda: bodies.coo_verify("0" * 64, "rejected"), "reason"),
        (
            lambda: bodies.customs_record(
                reference="R", decision="clearance", outcome="accepted", documents=["0" * 64]
            ),
            "outcome",
        ),
        (
            lambda: bodies.customs_record(
                reference="R", decision="clearance", outcome="released", documents=["0" * 64] * 2
            ),
            "documents",
        ),
        (lambda: bodies.member_register(b"short", "x"), "key"),
        (lambda: bodies.gov_propose("org.delete", {}, 10), "action"),
        (lambda: bodies.validator_set_params(bytes(32), "gov", -1), "power"),
    ],
)
def test_malformed_arguments_are_refused_before_signing(build: Any, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        build()
    assert info.value.field == field


def test_money_and_weights_are_integers() -> None:
    with pytest.raises(InvalidArgument, match="amount_minor"):
        attestation_with(amount_minor=12.5)
    with pytest.raises(InvalidArgument, match="amount_minor"):
        attestation_with(amount_minor=True)
    heavy = bill()
    heavy["goods"][0]["cargo_items"] = [
        {"packages": 1, "gross_weight_milli": 1.5, "weight_unit": "KGM"}  # type: ignore[typeddict-item]
    ]
    with pytest.raises(InvalidArgument, match=r"bill\.goods\[0\]\.cargo_items\[0\]\.gross_weight"):
        bodies.bl_issue(
            reference="B", issue_to="seller", to_order=True, document_sha256=bytes(32), bill=heavy
        )


def attestation_with(**changes: Any) -> dict[str, Value]:
    arguments: dict[str, Any] = {
        "reference": "P",
        "uetr": UETR,
        "beneficiary_bank": "bank2",
        "direction": "sent",
        "payer": BUYER,
        "payee": SELLER,
        "payer_bank_bic": "DBSSSGSGXXX",
        "payee_bank_bic": "INGBNL2A",
        "amount_minor": 1,
        "currency": "EUR",
        "value_date": "2026-01-05",
    } | changes
    return bodies.pay_attest(**arguments)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"uetr": UETR.upper()}, "uetr"),
        ({"currency": "eur"}, "currency"),
        ({"payer_bank_bic": "INGB"}, "payer_bank_bic"),
        ({"value_date": "2026-02-30"}, "value_date"),
        ({"direction": "lost"}, "direction"),
        ({"references": {"bill_of_lading": "BL-1"}}, "references.bill_of_lading"),
    ],
)
def test_payment_fields_are_checked(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        attestation_with(**change)
    assert info.value.field == field


def test_optional_none_fields_are_omitted() -> None:
    body = bodies.coo_verify("0" * 64, "accepted")
    assert body == {"document": "0" * 64, "outcome": "accepted"}
    body = bodies.bl_issue(
        reference="B", issue_to="seller", to_order=True, document_sha256=bytes(32), bill=bill()
    )
    assert "endorsee" not in body
    assert "consignee" not in body
