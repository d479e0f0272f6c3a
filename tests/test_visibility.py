"""The read rules of contracts/visibility.py over a real (in-memory) trade."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from contracts.records import Document, load_document
from contracts.testing import Network, issue_body
from contracts.visibility import (
    Reader,
    ReferenceIndex,
    may_see_document,
    may_see_event,
    may_see_members,
    referenced_documents,
)
from ledger.types import Role
from tests.api_harness import ORGANISATIONS, SEES, attestation_body, certificate_body


def reader(net: Network, organisation: str) -> Reader:
    return Reader(organisation=organisation, roles=frozenset(net.organisations[organisation]))


def trade() -> tuple[Network, ReferenceIndex, dict[str, Document]]:
    """The API tests' trade, executed block by block; the index fed each block's writes."""
    net = Network()
    index = ReferenceIndex()
    ids: dict[str, str] = {}

    def commit(name: str, signer: str, kind: str, body: Mapping[str, Any]) -> None:
        code, tx, result = net.run(signer, kind, body)
        assert code == "ok", (name, code)
        index.apply(net.height, sorted(result.writes.items()))
        ids[name] = tx.id.hex()

    commit("bill", "carrier", "bl.issue", issue_body("BL-1", "seller", to_order=True))
    commit("certificate", "chamber", "coo.issue", certificate_body(ids["bill"]))
    commit("payment", "bank", "pay.attest", attestation_body(ids["bill"]))
    decision = {
        "reference": "DEC-1",
        "decision": "clearance",
        "outcome": "released",
        "documents": [ids["certificate"]],
    }
    commit("decision", "customs", "customs.record", decision)
    documents = {}
    for name, document_id in ids.items():
        document = load_document(net.state, document_id)
        assert document is not None
        documents[name] = document
    return net, index, documents


def referencing(net: Network, index: ReferenceIndex, document_id: str) -> list[Document]:
    records = [load_document(net.state, i) for i in index.referencing(document_id)]
    return [record for record in records if record is not None]


def test_each_organisation_sees_exactly_the_documents_the_rules_give_it() -> None:
    net, index, documents = trade()
    for name, document in documents.items():
        seen_by = {
            organisation
            for organisation in ORGANISATIONS
            if may_see_document(
                reader(net, organisation), document, referencing(net, index, document.id)
            )
        }
        assert seen_by == SEES[name], name


def test_the_index_knows_which_records_reference_a_document() -> None:
    net, index, documents = trade()
    assert index.height == net.height
    assert index.referencing(documents["bill"].id) == (documents["payment"].id,)
    assert index.referencing(documents["certificate"].id) == (documents["decision"].id,)
    assert index.referencing(documents["payment"].id) == ()
    assert referenced_documents(documents["payment"]) == (documents["bill"].id,)
    assert referenced_documents(documents["decision"]) == (documents["certificate"].id,)
    assert referenced_documents(documents["bill"]) == ()
    with pytest.raises(ValueError, match="height"):
        index.apply(net.height + 2, [])


def test_a_grant_needs_the_role_and_a_part_in_the_referencing_record() -> None:
    net, index, documents = trade()
    bill = documents["bill"]
    records = referencing(net, index, bill.id)
    bank = reader(net, "bank")
    assert may_see_document(bank, bill, records)
    assert not may_see_document(replace(bank, roles=frozenset({Role.SELLER})), bill, records)
    assert not may_see_document(reader(net, "bank"), bill, [])  # no referencing record
    # customs sees what its decision lists even if it were not made a party
    certificate = replace(documents["certificate"], parties=("chamber", "seller"))
    decisions = referencing(net, index, certificate.id)
    assert may_see_document(reader(net, "customs"), certificate, decisions)
    assert not may_see_document(
        replace(reader(net, "customs"), organisation="customs2"), certificate, decisions
    )


def test_members_and_events() -> None:
    net, index, documents = trade()
    assert may_see_members(reader(net, "buyer"), "buyer")
    assert not may_see_members(reader(net, "buyer"), "seller")
    assert may_see_members(reader(net, "gov"), "seller")
    bill = documents["bill"]
    records = referencing(net, index, bill.id)
    assert may_see_event(reader(net, "bank2"), bill.parties, bill, records)
    assert not may_see_event(reader(net, "buyer"), bill.parties, bill, records)
    assert may_see_event(reader(net, "buyer"), ("buyer",), None, ())
    assert not may_see_event(reader(net, "seller"), ("buyer",), None, ())
