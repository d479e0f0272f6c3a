"""Limits on what one document accumulates are refusals, never crashes: every node must go
on executing the block whatever members submit."""

from __future__ import annotations

from dataclasses import replace

from contracts import queries
from contracts.context import LIMITS
from contracts.records import Document, document_key, lapse_key
from contracts.testing import Network, issue_body
from ledger.codec import Value


def _edit_document(net: Network, document_id: str, edit: object) -> None:
    stored = net.state.get(document_key(document_id))
    assert stored is not None
    document = Document.from_value(stored)
    net.state.apply({document_key(document_id): edit(document).to_value()})  # type: ignore[operator]


def _customs_body(reference: str, document_id: str) -> dict[str, Value]:
    return {
        "reference": reference,
        "decision": "clearance",
        "outcome": "held",
        "documents": [document_id],
        "reason": "inspection",
    }


def test_a_full_history_refuses_one_more_event_and_changes_nothing() -> None:
    net = Network()
    _, bill, _ = net.run("carrier", "bl.issue", issue_body("BL-L1", "seller", to_order=False))
    bill_id = bill.id.hex()
    _edit_document(net, bill_id, lambda d: replace(d, event_count=LIMITS.document_events_max))
    before = net.state.get(document_key(bill_id))
    code, _, result = net.run("customs", "customs.record", _customs_body("MRN-L1", bill_id))
    assert code == "document_history_full"
    assert net.state.get(document_key(bill_id)) == before
    assert all(not key.startswith("doc/") for key in result.writes)


def test_a_full_endorsement_chain_refuses_a_transfer() -> None:
    net = Network()
    _, bill, _ = net.run("carrier", "bl.issue", issue_body("BL-L2", "seller", to_order=True))
    bill_id = bill.id.hex()

    def fill_chain(document: Document) -> Document:
        assert document.title is not None
        entry = document.title.chain[0]
        chain = (entry,) * LIMITS.endorsement_chain_length_max
        return replace(document, title=replace(document.title, chain=chain))

    _edit_document(net, bill_id, fill_chain)
    height = net.height
    transfer = {"document": bill_id, "recipient": "buyer", "offer_expiry_height": height + 5}
    assert net.run("seller", "bl.transfer", transfer)[0] == "ok"
    assert net.run("buyer", "bl.accept", {"document": bill_id})[0] == "document_history_full"
    record = queries.document(net.state, bill_id)
    assert record is not None
    assert record["status"] == "transfer_pending"


def test_an_offer_lapses_even_when_the_history_is_full() -> None:
    net = Network()
    _, bill, _ = net.run("carrier", "bl.issue", issue_body("BL-L3", "seller", to_order=True))
    bill_id = bill.id.hex()
    expiry = net.height + 2
    transfer = {"document": bill_id, "recipient": "buyer", "offer_expiry_height": expiry}
    assert net.run("seller", "bl.transfer", transfer)[0] == "ok"
    _edit_document(net, bill_id, lambda d: replace(d, event_count=LIMITS.document_events_max))
    while net.height <= expiry:
        net.block()
    record = queries.document(net.state, bill_id)
    assert record is not None
    assert record["status"] == "issued"


def test_a_height_full_of_lapsing_offers_refuses_one_more() -> None:
    net = Network()
    _, bill, _ = net.run("carrier", "bl.issue", issue_body("BL-L4", "seller", to_order=True))
    expiry = net.height + 10
    net.state.apply(
        {lapse_key(expiry): [["00" * 32, "11" * 32]] * LIMITS.offers_lapsing_per_height_max}
    )
    transfer = {"document": bill.id.hex(), "recipient": "buyer", "offer_expiry_height": expiry}
    assert net.run("seller", "bl.transfer", transfer)[0] == "offer_expiry_invalid"
    transfer["offer_expiry_height"] = expiry + 1
    assert net.run("seller", "bl.transfer", transfer)[0] == "ok"
