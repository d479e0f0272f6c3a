"""The SDK against the real node: a single-validator `Node` and its FastAPI app in-process
(tests/api_harness.py), reached through `tests/asgi_bridge.BridgeTransport` (no sockets).

A whole trade is walked with the SDK's builders, every query is read back, and the evidence
bundle the node serves is verified offline against the genesis alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from client.bodies import Bill, CertificateGoodsItem, Party
from client.errors import ApiError, TransactionRejected
from client.sdk import Client
from ledger import crypto
from ledger.types import Genesis, Transaction
from tests.api_harness import BASE_URL, Api
from tests.asgi_bridge import BridgeTransport, LoopThread, running_node

BILL_FILE = b"%PDF-1.7 bill of lading BL-1 as signed by the carrier"
CERTIFICATE_FILE = b"%PDF-1.7 certificate of origin COO-1"
SELLER: Party = {"name": "Seller BV", "country": "NL"}
BUYER: Party = {"name": "Buyer Pte Ltd", "country": "SG"}
BILL: Bill = {
    "document_type": "BOL",
    "shipper": SELLER,
    "vessel_voyages": [{"vessel_name": "MSC Gülsün", "voyage": "402E"}],
    "port_of_loading": "NLRTM",
    "port_of_discharge": "SGSIN",
    "goods": [{"description": "Cheese", "hs_codes": ["040690"]}],
    "issue_date": "2026-01-01",
    "is_shipped_on_board": True,
    "freight_payment_term": "PRE",
}
GOODS: list[CertificateGoodsItem] = [
    {
        "description": "Cheese",
        "hs_code": "040690",
        "quantity": 100,
        "unit": "KGM",
        "origin_country": "NL",
        "origin_criterion": "WO",
    }
]


@dataclass
class Trade:
    api: Api
    loop: LoopThread
    genesis: Genesis
    bill: str = ""
    certificate: str = ""
    payment: str = ""
    decision: str = ""
    clients: dict[str | None, Client] = field(default_factory=dict)

    def client(self, organisation: str | None) -> Client:
        """One Client per organisation: the node's clock stands still in these tests, and a
        Client keeps its signed reads' timestamps increasing (a second Client of the same key
        would repeat the first one's timestamps, and its identical reads are replays)."""
        if organisation not in self.clients:
            key = None if organisation is None else self.api.net.key(organisation)
            self.clients[organisation] = Client(
                BASE_URL,
                key,
                transport=BridgeTransport(self.api.app, self.loop),
                clock_ns=lambda: self.api.clock.now_ms * 1_000_000,
            )
        return self.clients[organisation]


def walk_the_trade(api: Api, loop: LoopThread) -> Trade:
    trade = Trade(api=api, loop=loop, genesis=api.net.genesis)
    carrier, seller, buyer = trade.client("carrier"), trade.client("seller"), trade.client("buyer")
    bank, bank2 = trade.client("bank"), trade.client("bank2")
    chamber, customs = trade.client("chamber"), trade.client("customs")
    bill = carrier.bl_issue(
        reference="BL-1",
        issue_to="seller",
        to_order=True,
        endorsee="seller",
        document_sha256=crypto.sha256(BILL_FILE),
        bill=BILL,
    )
    assert bill.ok
    certificate = chamber.coo_issue(
        reference="COO-1",
        document_sha256=crypto.sha256(CERTIFICATE_FILE),
        exporter=SELLER,
        importer=BUYER,
        country_of_export="NL",
        country_of_import="SG",
        goods=GOODS,
        issue_date="2026-01-02",
        bill_of_lading=bill.id,
        exporter_organisation="seller",
        importer_organisation="buyer",
    )
    payment = bank.pay_attest(
        reference="PAY-1",
        uetr="8a562c67-ca16-48ba-b074-65581be6f001",
        beneficiary_bank="bank2",
        direction="sent",
        payer=BUYER,
        payee=SELLER,
        payer_bank_bic="DBSSSGSGXXX",
        payee_bank_bic="INGBNL2A",
        amount_minor=1_250_000,
        currency="EUR",
        value_date="2026-01-05",
        references={"bill_of_lading": bill.id, "certificate_of_origin": certificate.id},
    )
    bank2.pay_confirm(payment.id)
    seller.bl_endorse(bill.id, "ENDORSE_TO_ORDER", "buyer")
    seller.bl_transfer(bill.id, "buyer")
    buyer.bl_accept(bill.id)
    customs.coo_verify(certificate.id, "accepted", declaration_reference="DECL-1")
    decision = customs.customs_record(
        reference="CLR-1",
        decision="clearance",
        outcome="released",
        documents=[bill.id, certificate.id],
    )
    buyer.bl_surrender(bill.id, "delivery")
    carrier.bl_surrender_accept(bill.id)
    trade.bill, trade.certificate = bill.id, certificate.id
    trade.payment, trade.decision = payment.id, decision.id
    return trade


@pytest.fixture(scope="module")
def trade(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trade]:
    with running_node(tmp_path_factory.mktemp("node")) as (api, loop):
        yield walk_the_trade(api, loop)


def test_the_trade_leaves_the_bill_delivered(trade: Trade) -> None:
    buyer = trade.client("buyer")
    record = buyer.document(trade.bill)
    assert record["status"] == "surrendered_for_delivery"
    history = buyer.history(trade.bill)
    actions = [entry["action"] for entry in history["endorsement_chain"]]
    assert actions[0] == "ISSUE"
    assert actions[-2:] == ["SURRENDER_FOR_DELIVERY", "SACC"]
    assert "TRANSFER" in actions
    payment = trade.client("bank2").document(trade.payment)
    assert payment["status"] == "confirmed"


def test_the_bundle_verifies_offline_against_the_genesis(trade: Trade) -> None:
    report = trade.client("buyer").verified_bundle(trade.bill, trade.genesis, BILL_FILE)
    assert report.ok
    assert report.file_matches
    kinds = [entry.kind for entry in report.entries]
    assert kinds[0] == "bl.issue"
    assert {"bl.transfer", "bl.accept", "customs.record", "bl.surrender_accept"} <= set(kinds)
    assert all(entry.code == "ok" for entry in report.entries)
    certificate = trade.client("chamber").verified_bundle(
        trade.certificate, trade.genesis, CERTIFICATE_FILE
    )
    assert [e.kind for e in certificate.entries][:2] == ["coo.issue", "coo.verify"]


def test_lookups_and_file_checks(trade: Trade) -> None:
    carrier = trade.client("carrier")
    assert carrier.lookup("bl", "carrier", "BL-1") == trade.bill
    assert carrier.lookup("bl", "carrier", "BL-404") is None
    anonymous = trade.client(None)
    found = anonymous.verify_file(BILL_FILE)
    assert found["registered"] is True
    assert found["document"] == trade.bill
    assert anonymous.verify_file(b"some other file") == {"registered": False}


def test_blocks_and_proofs_check_against_trusted_headers(trade: Trade) -> None:
    anonymous, buyer = trade.client(None), trade.client("buyer")
    latest = anonymous.block()
    latest.commit.verify(trade.genesis.chain_id, trade.genesis.validators)
    first = anonymous.block(1)
    first.commit.verify(trade.genesis.chain_id, trade.genesis.validators)
    consistency = anonymous.consistency_proof(first.header.log_size, latest.header.log_size)
    consistency.verify(root_from=first.header.log_root, root_to=latest.header.log_root)
    tx = buyer.bundle(trade.bill)["entries"][0]["transaction"]
    inclusion = buyer.inclusion_proof(trade.bill, latest.header.log_size)
    inclusion.verify(bytes.fromhex(tx), root=latest.header.log_root)
    status = anonymous.status()
    assert status["height"] >= latest.height
    assert anonymous.validators()["validators"]


def test_organisations_and_members(trade: Trade) -> None:
    seller = trade.client("seller")
    organisations = seller.organisations()
    assert "seller" in str(organisations)
    members = seller.members("seller")
    assert trade.api.net.key("seller").public_key.hex() in str(members)
    with pytest.raises(ApiError) as info:
        seller.members("bank")
    assert info.value.status == 403


def test_a_document_another_organisation_may_not_see_is_refused(trade: Trade) -> None:
    with pytest.raises(ApiError) as info:
        trade.client("carrier2").document(trade.payment)
    assert info.value.status in (403, 404)
    assert info.value.code in ("forbidden", "not_found")


def test_a_refused_transaction_raises_with_its_code(trade: Trade) -> None:
    with pytest.raises(TransactionRejected) as info:
        trade.client("seller").bl_transfer(trade.bill, "seller2")
    assert info.value.code in ("sender_not_holder", "document_inactive")
    assert info.value.height is not None


def test_batch_then_wait(trade: Trade) -> None:
    chamber = trade.client("chamber")
    tx = chamber.transaction("coo.revoke", {"document": trade.certificate, "reason": "test"})
    elsewhere = Transaction.create(
        trade.api.net.key("chamber"),
        chain_id="elsewhere",
        kind="coo.revoke",
        nonce=1,
        expiry_height=10,
        body={"document": trade.certificate, "reason": "test"},
    )
    results = chamber.submit_batch([tx, elsewhere])
    assert results[0].status == "pending"
    assert (results[1].status, results[1].error) == (None, "wrong_chain")

    async def committed() -> None:
        await trade.api.node.wait_committed(tx.id)

    receipt = chamber.wait_for(results[0].id or "", sleep=lambda _: trade.loop.run(committed()))
    assert receipt.ok


def test_a_reference_that_needs_escaping_is_signed_as_sent(trade: Trade) -> None:
    assert trade.client("carrier").lookup("bl", "carrier", "BL 1/2?&x=ü") is None
