"""The state the contracts keep so that reads never replay the chain: every record that names
a document leaves a history event on it (so its links both ways are a read of the document
and its history), ``party/<org>/<n>`` lists the documents an organisation is a party of, and
``pending/<org>/<doc>`` what waits for it. After every block of a trade touching every
family, each index is compared with a scan of the whole state (the model)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from contracts import queries
from contracts.context import LIMITS
from contracts.records import (
    Document,
    PendingAction,
    document_key,
    party_count_key,
    party_key,
    pending_actions,
    pending_key,
)
from contracts.testing import Network, bill_body, issue_body, sha
from ledger.codec import Value
from ledger.state import GENESIS_STATE_ROOT
from tests.test_contracts_authorisation import attestation_body, certificate_body

EVERYTHING = 1_000_000  # more documents than any test makes


def commit(net: Network, signer: str, kind: str, body: Mapping[str, Any]) -> str:
    code, tx, _ = net.run(signer, kind, body)
    assert code == "ok", (kind, code)
    check_indexes(net)
    return tx.id.hex()


def documents(net: Network) -> dict[str, Document]:
    """Every document record in the state (a full scan: the model the indexes must equal)."""
    found: dict[str, Document] = {}
    for key, value in net.state.items():
        if key.startswith("doc/") and key.count("/") == 1:
            found[key.removeprefix("doc/")] = Document.from_value(value, key)
    return found


def check_indexes(net: Network) -> None:
    records = documents(net)
    naming: dict[str, set[str]] = {document_id: set() for document_id in records}
    for record in records.values():
        for named in queries.named_documents(record):
            naming[named].add(record.id)
    for document_id, record in records.items():
        expected = set(queries.named_documents(record)) | naming[document_id]
        assert set(queries.linked_documents(net.state, document_id)) == expected, document_id

    for organisation in net.organisations:
        party = queries.party_documents(net.state, organisation, EVERYTHING)
        assert len(party.ids) == len(set(party.ids)) == party.total, organisation
        expected_ids = {d for d, record in records.items() if organisation in record.parties}
        assert set(party.ids) == expected_ids, organisation

    pending = {key: value for key, value in net.state.items() if key.startswith("pending/")}
    assert pending == {
        pending_key(organisation, record.id): action
        for record in records.values()
        for organisation, action in pending_actions(record.to_value()).items()
    }


def last_event(net: Network, document_id: str) -> dict[str, Value]:
    return queries.document_history(net.state, document_id)[-1]


def payment(bill: str | None, certificate: str | None, reference: str) -> dict[str, Value]:
    references: dict[str, Value] = {}
    if bill is not None:
        references["bill_of_lading"] = bill
    if certificate is not None:
        references["certificate_of_origin"] = certificate
    return attestation_body("bank2") | {"reference": reference, "references": references}


# --- incoming links: a trace on the named document ----------------------------------------------


def test_a_certificate_naming_a_bill_leaves_an_event_on_the_bill() -> None:
    net = Network()
    bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    before = Document.from_value(net.state.get(document_key(bill)))
    body = certificate_body() | {"bill_of_lading": bill, "importer_organisation": "buyer"}
    certificate = commit(net, "chamber", "coo.issue", body)
    event = last_event(net, bill)
    assert (event["action"], event["actor"], event["tx"]) == ("coo.issue", "chamber", certificate)
    assert event["detail"] == {"certificate": certificate}
    after = Document.from_value(net.state.get(document_key(bill)))
    assert after.parties == before.parties  # a trace only: the chamber gains no bill
    assert replace(after, event_count=1, updated_height=1) == before
    assert queries.linked_documents(net.state, bill) == (certificate,)
    assert queries.linked_documents(net.state, certificate) == (bill,)


def test_a_certificate_is_refused_when_the_bill_history_is_full() -> None:
    net = Network()
    bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    full = replace(
        Document.from_value(net.state.get(document_key(bill))),
        event_count=LIMITS.document_events_max,
    )
    net.state.apply({document_key(bill): full.to_value()})
    code, _, result = net.run("chamber", "coo.issue", certificate_body() | {"bill_of_lading": bill})
    assert code == "document_history_full"
    assert queries.by_reference(net.state, "coo", "chamber", "COO-NEW") is None
    assert not [key for key in result.writes if not key.startswith(("tx/", "nonce/"))]


def test_every_record_naming_a_document_is_found_from_that_document() -> None:
    """A trade touching every family; after each block the links found from each document
    (its record and its history) equal a scan of every record for what names what."""
    net = Network()
    bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    certificate = commit(net, "chamber", "coo.issue", certificate_body() | {"bill_of_lading": bill})
    attestation = commit(net, "bank", "pay.attest", payment(bill, certificate, "PAY-1"))
    correction = commit(
        net,
        "bank",
        "pay.correct",
        {"document": attestation, **payment(bill, None, "PAY-1"), "amount_minor": 7},
    )
    revocation = commit(net, "bank", "pay.revoke", {"document": correction, "reason": "wrong"})
    decision = commit(
        net,
        "customs",
        "customs.record",
        {
            "reference": "MRN-1",
            "decision": "clearance",
            "outcome": "released",
            "documents": [bill, certificate, attestation],
        },
    )
    commit(net, "seller", "bl.surrender", {"document": bill, "purpose": "amendment"})
    commit(net, "carrier", "bl.surrender_accept", {"document": bill})
    amended = commit(
        net,
        "carrier",
        "bl.amend",
        {"document": bill, "reference": "BL-1", "document_sha256": sha("v2"), "bill": bill_body()},
    )
    assert queries.linked_documents(net.state, bill) == tuple(
        sorted({certificate, attestation, correction, decision, amended})
    )
    assert queries.linked_documents(net.state, correction) == tuple(
        sorted({attestation, bill, revocation})
    )
    assert queries.linked_documents(net.state, amended) == (bill,)


# --- the party index ---------------------------------------------------------------------------


def test_an_organisation_becoming_a_party_gains_an_index_entry() -> None:
    net = Network()
    bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    assert net.state.get(party_count_key("seller")) == 1
    assert net.state.get(party_key("seller", 0)) == bill
    assert net.state.get(party_count_key("bank")) is None
    attestation = commit(net, "bank", "pay.attest", payment(bill, None, "PAY-1"))
    # the bank is a party of its attestation and, through it, of the bill
    assert queries.party_documents(net.state, "bank", 10).ids == (bill, attestation)
    offer = {"document": bill, "recipient": "buyer", "offer_expiry_height": net.height + 5}
    commit(net, "seller", "bl.transfer", offer)
    commit(net, "buyer", "bl.accept", {"document": bill})  # already a party: no new entry
    assert queries.party_documents(net.state, "buyer", 10).ids == (bill,)
    second = commit(net, "carrier", "bl.issue", issue_body("BL-2", "seller", to_order=True))
    third = commit(net, "carrier", "bl.issue", issue_body("BL-3", "seller", to_order=True))
    newest = queries.party_documents(net.state, "seller", 2)
    assert (newest.ids, newest.total, newest.older) == ((third, second), 3, 1)
    assert queries.party_documents(net.state, "nobody", 2).total == 0


# --- what waits for whom -----------------------------------------------------------------------


def test_pending_actions_follow_offers_surrenders_and_confirmations() -> None:
    net = Network()
    bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    expiry = net.height + 2
    offer: dict[str, Value] = {
        "document": bill,
        "recipient": "buyer",
        "offer_expiry_height": expiry,
    }
    commit(net, "seller", "bl.transfer", offer)
    assert net.state.get(pending_key("buyer", bill)) == PendingAction.OFFER_TO_ACCEPT
    while net.height <= expiry:  # the offer lapses
        net.block()
        check_indexes(net)
    assert net.state.get(pending_key("buyer", bill)) is None
    offer["offer_expiry_height"] = net.height + 5
    commit(net, "seller", "bl.transfer", offer)
    commit(net, "seller", "bl.cancel", {"document": bill})
    assert net.state.get(pending_key("buyer", bill)) is None
    commit(net, "seller", "bl.transfer", offer)
    commit(net, "buyer", "bl.accept", {"document": bill})
    commit(net, "buyer", "bl.surrender", {"document": bill, "purpose": "delivery"})
    assert net.state.get(pending_key("carrier", bill)) == PendingAction.SURRENDER_TO_DECIDE
    commit(net, "carrier", "bl.surrender_reject", {"document": bill, "reason": "unpaid"})
    assert net.state.get(pending_key("carrier", bill)) is None

    attestation = commit(net, "bank", "pay.attest", payment(bill, None, "PAY-1"))
    assert net.state.get(pending_key("bank2", attestation)) == PendingAction.PAYMENT_TO_CONFIRM
    correction = commit(
        net, "bank", "pay.correct", {"document": attestation, **payment(bill, None, "PAY-1")}
    )
    assert net.state.get(pending_key("bank2", attestation)) is None
    assert net.state.get(pending_key("bank2", correction)) == PendingAction.PAYMENT_TO_CONFIRM
    commit(net, "bank2", "pay.confirm", {"document": correction})
    assert not [key for key, _ in net.state.items() if key.startswith("pending/")]


def test_an_offer_lapsing_on_a_full_history_leaves_nothing_pending() -> None:
    net = Network()
    bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    expiry = net.height + 2
    commit(net, "seller", "bl.transfer", {"document": bill, "recipient": "buyer",
                                          "offer_expiry_height": expiry})  # fmt: skip
    full = replace(
        Document.from_value(net.state.get(document_key(bill))),
        event_count=LIMITS.document_events_max,
    )
    net.state.apply({document_key(bill): full.to_value()})
    while net.height <= expiry:
        net.block()
    assert net.state.get(pending_key("buyer", bill)) is None


# --- determinism -------------------------------------------------------------------------------


def test_the_indexes_are_deterministic_and_part_of_the_state_root() -> None:
    def run() -> tuple[list[bytes], dict[str, Value]]:
        net = Network()
        bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
        certificate = commit(
            net, "chamber", "coo.issue", certificate_body() | {"bill_of_lading": bill}
        )
        commit(net, "bank", "pay.attest", payment(bill, certificate, "PAY-1"))
        offer = {"document": bill, "recipient": "buyer", "offer_expiry_height": net.height + 5}
        commit(net, "seller", "bl.transfer", offer)
        indexes = {
            key: value for key, value in net.state.items() if key.startswith(("party/", "pending/"))
        }
        return net.roots, indexes

    first, second = run(), run()
    assert first == second
    roots, indexes = first
    assert len(set(roots)) == len(roots)
    assert GENESIS_STATE_ROOT not in roots
    assert indexes[party_count_key("bank2")] == 3  # the attestation, the bill, the certificate
    assert set(indexes.values()) >= {
        PendingAction.OFFER_TO_ACCEPT,
        PendingAction.PAYMENT_TO_CONFIRM,
    }
