"""The read rules of contracts/visibility.py over a real (in-memory) trade, and the contract
rules that keep ``parties`` (what the read rules rely on): a payment attestation makes its
banks parties of the bill and certificate it references."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from contracts import queries
from contracts.records import Document, load_document
from contracts.testing import DEFAULT_ORGANISATIONS, Network, issue_body
from contracts.visibility import Reader, may_see_document, may_see_event, may_see_members
from ledger.codec import Value
from ledger.types import Role
from tests.api_harness import ORGANISATIONS, SEES, attestation_body, certificate_body


def reader(net: Network, organisation: str) -> Reader:
    return Reader(organisation=organisation, roles=frozenset(net.organisations[organisation]))


def commit(net: Network, signer: str, kind: str, body: Mapping[str, Any]) -> str:
    code, tx, _ = net.run(signer, kind, body)
    assert code == "ok", (kind, code)
    return tx.id.hex()


def load(net: Network, document_id: str) -> Document:
    document = load_document(net.state, document_id)
    assert document is not None
    return document


def trade() -> tuple[Network, dict[str, Document]]:
    """The API tests' trade (tests/api_harness.py), executed block by block."""
    net = Network()
    ids: dict[str, str] = {}
    ids["bill"] = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    ids["certificate"] = commit(net, "chamber", "coo.issue", certificate_body(ids["bill"]))
    ids["payment"] = commit(net, "bank", "pay.attest", attestation_body(ids["bill"]))
    decision = {
        "reference": "DEC-1",
        "decision": "clearance",
        "outcome": "released",
        "documents": [ids["certificate"]],
    }
    ids["decision"] = commit(net, "customs", "customs.record", decision)
    return net, {name: load(net, document_id) for name, document_id in ids.items()}


def test_each_organisation_sees_exactly_the_documents_the_rules_give_it() -> None:
    net, documents = trade()
    for name, document in documents.items():
        seen_by = {
            organisation
            for organisation in ORGANISATIONS
            if may_see_document(reader(net, organisation), document)
        }
        assert seen_by == SEES[name], name
        assert set(document.parties) == SEES[name], name  # the rule is the parties


def test_roles_grant_nothing_beyond_the_parties() -> None:
    net, documents = trade()
    bill, certificate = documents["bill"], documents["certificate"]
    bank = reader(net, "bank")
    assert may_see_document(bank, bill)
    assert may_see_document(replace(bank, roles=frozenset({Role.SELLER})), bill)
    assert not may_see_document(bank, replace(bill, parties=("carrier", "seller")))
    customs = reader(net, "customs")
    assert may_see_document(customs, certificate)
    assert not may_see_document(customs, replace(certificate, parties=("chamber", "seller")))
    assert not may_see_document(replace(customs, organisation="customs2"), certificate)
    assert not may_see_document(reader(net, "gov"), bill)  # governance reads no documents


def test_members_and_events() -> None:
    net, documents = trade()
    assert may_see_members(reader(net, "buyer"), "buyer")
    assert not may_see_members(reader(net, "buyer"), "seller")
    assert may_see_members(reader(net, "gov"), "seller")
    bill = documents["bill"]
    assert may_see_event(reader(net, "bank2"), ("carrier", "seller"), bill)
    assert not may_see_event(reader(net, "buyer"), ("carrier", "seller"), bill)
    assert may_see_event(reader(net, "buyer"), ("buyer",), None)
    assert not may_see_event(reader(net, "seller"), ("buyer",), None)


# --- payment attestations make their banks parties of what they reference ---------------------

UETR = "8a562c67-ca16-48ba-b074-65581be6f001"


def three_banks() -> Network:
    return Network(organisations={**DEFAULT_ORGANISATIONS, "bank3": (Role.BANK,)})


def bill_and_certificate(net: Network) -> tuple[str, str]:
    bill = commit(net, "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    return bill, commit(net, "chamber", "coo.issue", certificate_body(bill))


def referencing(
    bill: str | None, certificate: str | None, *, beneficiary: str = "bank2"
) -> dict[str, Value]:
    references: dict[str, Value] = {"invoice": "INV-1"}
    if bill is not None:
        references["bill_of_lading"] = bill
    if certificate is not None:
        references["certificate_of_origin"] = certificate
    return attestation_body("unused") | {
        "beneficiary_bank": beneficiary,
        "references": references,
    }


def seen_by(net: Network, document_id: str) -> set[str]:
    document = load(net, document_id)
    return {org for org in net.organisations if may_see_document(reader(net, org), document)}


def last_event(net: Network, document_id: str) -> dict[str, Value]:
    return queries.document_history(net.state, document_id)[-1]


def test_a_bank_linked_by_an_attestation_sees_the_bill_and_the_certificate() -> None:
    net = three_banks()
    bill, certificate = bill_and_certificate(net)
    assert seen_by(net, bill) == {"carrier", "seller"}
    assert seen_by(net, certificate) == {"chamber", "seller"}
    before = load(net, bill)
    payment = commit(net, "bank", "pay.attest", referencing(bill, certificate))
    assert seen_by(net, bill) == {"carrier", "seller", "bank", "bank2"}
    assert seen_by(net, certificate) == {"chamber", "seller", "bank", "bank2"}
    assert seen_by(net, payment) == {"bank", "bank2"}  # the attestation stays with its banks
    for document_id in (bill, certificate):
        event = last_event(net, document_id)
        assert event["action"] == "pay.attest"
        assert event["actor"] == "bank"
        assert event["tx"] == payment
        assert event["detail"] == {"attestation": payment}
    after = load(net, bill)  # nothing else about the bill changed
    assert (after.event_count, after.updated_height) == (before.event_count + 1, net.height)
    unchanged = replace(
        after,
        parties=before.parties,
        event_count=before.event_count,
        updated_height=before.updated_height,
    )
    assert unchanged == before


def test_a_bank_not_linked_does_not_see_them() -> None:
    net = three_banks()
    bill, certificate = bill_and_certificate(net)
    commit(net, "bank", "pay.attest", referencing(bill, None))
    # bank3 attests a payment of its own that references nothing
    unlinked = referencing(None, None, beneficiary="bank3") | {
        "reference": "PAY-3",
        "uetr": "0d7f0a2e-6a4f-4d6b-9c53-1f0e2d3c4b5a",
    }
    commit(net, "bank3", "pay.attest", unlinked)
    assert seen_by(net, bill) == {"carrier", "seller", "bank", "bank2"}
    assert seen_by(net, certificate) == {"chamber", "seller"}  # not referenced: no bank
    # a refused attestation adds no party and no history event
    before = load(net, bill)
    refused = referencing(bill, "00" * 32, beneficiary="bank3") | {
        "reference": "PAY-4",
        "uetr": "1d7f0a2e-6a4f-4d6b-9c53-1f0e2d3c4b5a",
    }
    assert net.run("bank3", "pay.attest", refused)[0] == "linked_document_unknown"
    assert load(net, bill) == before
    assert "bank3" not in seen_by(net, bill)


def test_a_correction_by_the_attesting_bank_keeps_it() -> None:
    net = three_banks()
    bill, certificate = bill_and_certificate(net)
    first = commit(net, "bank", "pay.attest", referencing(bill, certificate))
    # the correction drops the certificate and names another beneficiary bank
    correction = {"document": first, **referencing(bill, None, beneficiary="bank3")}
    second = commit(net, "bank", "pay.correct", correction)
    assert seen_by(net, bill) == {"carrier", "seller", "bank", "bank2", "bank3"}
    assert seen_by(net, certificate) == {"chamber", "seller", "bank", "bank2"}
    assert last_event(net, bill)["detail"] == {"attestation": second}
    assert last_event(net, bill)["action"] == "pay.correct"
    assert last_event(net, certificate)["detail"] == {"attestation": first}
    assert seen_by(net, first) == {"bank", "bank2"}
    assert seen_by(net, second) == {"bank", "bank3"}
    # a revocation removes no one
    commit(net, "bank", "pay.revoke", {"document": second, "reason": "sent twice"})
    assert seen_by(net, bill) == {"carrier", "seller", "bank", "bank2", "bank3"}
    assert seen_by(net, certificate) == {"chamber", "seller", "bank", "bank2"}
    assert queries.by_uetr(net.state, UETR) == second


def test_an_attestation_to_itself_adds_one_bank() -> None:
    net = three_banks()
    bill, _ = bill_and_certificate(net)
    payment = commit(net, "bank", "pay.attest", referencing(bill, None, beneficiary="bank"))
    assert load(net, payment).status == "confirmed"
    assert load(net, bill).parties == ("bank", "carrier", "seller")


def test_party_additions_are_deterministic() -> None:
    def run() -> tuple[list[bytes], list[tuple[str, ...]]]:
        net = three_banks()
        bill, certificate = bill_and_certificate(net)
        first = commit(net, "bank", "pay.attest", referencing(bill, certificate))
        correction = {"document": first, **referencing(bill, certificate, beneficiary="bank3")}
        commit(net, "bank", "pay.correct", correction)
        return net.roots, [load(net, bill).parties, load(net, certificate).parties]

    assert run() == run()
    roots, parties = run()
    assert len(set(roots)) == len(roots)
    assert all(list(p) == sorted(set(p)) for p in parties)
