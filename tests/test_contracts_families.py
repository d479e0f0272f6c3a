"""Certificates of origin, payment attestations, customs records, governance, bills (edges)."""

from __future__ import annotations

from contracts import queries
from contracts.testing import Network, bill_body, issue_body, seeded_key, sha
from ledger.codec import Value
from ledger.types import Role
from tests.test_contracts_authorisation import attestation_body, certificate_body


def test_certificate_of_origin_life() -> None:
    net = Network()
    bill_code, bill, _ = net.run("carrier", "bl.issue", issue_body("BL-C", "seller", to_order=True))
    body = certificate_body() | {"bill_of_lading": bill.id.hex(), "exporter_organisation": "seller"}
    code, tx, _ = net.run("chamber", "coo.issue", body)
    assert (bill_code, code) == ("ok", "ok")
    doc = tx.id.hex()
    assert net.run("chamber", "coo.issue", body)[0] == "reference_taken"
    assert queries.by_reference(net.state, "coo", "chamber", "COO-NEW") == doc
    assert queries.by_file_hash(net.state, sha("coo-new")) == doc
    query = {"document": doc, "outcome": "query"}
    assert net.run("customs", "coo.verify", query)[0] == "malformed_body"  # reason required
    assert net.run("customs", "coo.verify", query | {"reason": "check origin"})[0] == "ok"
    assert net.run("customs", "coo.verify", {"document": doc, "outcome": "accepted"})[0] == "ok"
    assert net.run("customs", "coo.revoke", {"document": doc, "reason": "x"})[0] == (
        "role_not_allowed"
    )
    revoke = {"document": doc, "reason": "origin not proven"}
    assert net.run("chamber", "coo.revoke", revoke)[0] == "ok"
    assert net.run("chamber", "coo.revoke", revoke)[0] == "document_inactive"
    assert net.run("customs", "coo.verify", {"document": doc, "outcome": "accepted"})[0] == (
        "document_inactive"
    )
    record = queries.document(net.state, doc)
    assert record is not None
    assert record["status"] == "revoked"
    notes = record["notes"]
    assert isinstance(notes, list)
    assert [n["outcome"] for n in notes if isinstance(n, dict)] == ["query", "accepted"]
    bad = certificate_body() | {
        "reference": "COO-2",
        "document_sha256": sha("coo-2"),
        "bill_of_lading": "00" * 32,
    }
    assert net.run("chamber", "coo.issue", bad)[0] == "linked_document_unknown"
    expired = certificate_body() | {
        "reference": "COO-3",
        "document_sha256": sha("coo-3"),
        "issue_date": "2025-01-01",
        "expiry_date": "2025-06-30",
    }
    code, old, _ = net.run("chamber", "coo.issue", expired)
    assert code == "ok"
    accepted = {"document": old.id.hex(), "outcome": "accepted"}
    assert net.run("customs", "coo.verify", accepted)[0] == "document_expired"


def test_payment_attestation_confirm_correct_revoke() -> None:
    net = Network()
    code, tx, _ = net.run("bank", "pay.attest", attestation_body("bank2"))
    assert code == "ok"
    first = tx.id.hex()
    assert net.run("bank", "pay.attest", attestation_body("bank2"))[0] == "reference_taken"
    assert net.run("bank", "pay.confirm", {"document": first})[0] == "sender_not_beneficiary_bank"
    assert net.run("bank2", "pay.confirm", {"document": first})[0] == "ok"
    assert net.run("bank2", "pay.confirm", {"document": first})[0] == "already_confirmed"
    corrected = {"document": first, **attestation_body("bank2"), "amount_minor": 1_250_100}
    assert net.run("bank2", "pay.correct", corrected)[0] == "sender_not_issuer"
    code, tx, _ = net.run("bank", "pay.correct", corrected)
    assert code == "ok"
    second = tx.id.hex()
    old = queries.document(net.state, first)
    new = queries.document(net.state, second)
    assert old is not None
    assert new is not None
    assert old["status"] == "corrected"
    assert old["links"] == {"corrected_by": second}
    assert new["links"] == {"corrects": first}
    assert new["status"] == "attested"
    assert queries.lineage(net.state, second) == [second, first]
    assert queries.by_uetr(net.state, "8a562c67-ca16-48ba-b074-65581be6f001") == second
    assert net.run("bank", "pay.correct", corrected)[0] == "document_inactive"
    code, revocation, _ = net.run("bank", "pay.revoke", {"document": second, "reason": "dup"})
    assert code == "ok"
    revoked = queries.document(net.state, second)
    assert revoked is not None
    assert revoked["status"] == "revoked"
    assert revoked["links"] == {"corrects": first, "revoked_by": revocation.id.hex()}
    assert net.run("bank2", "pay.confirm", {"document": second})[0] == "document_inactive"
    # the UETR is free again once its attestation is revoked
    again = attestation_body("bank2") | {"reference": "PAY-2"}
    assert net.run("bank", "pay.attest", again)[0] == "ok"
    not_a_bank = attestation_body("seller") | {
        "reference": "PAY-3",
        "uetr": "0d7f0a2e-6a4f-4d6b-9c53-1f0e2d3c4b5a",
    }
    assert net.run("bank", "pay.attest", not_a_bank)[0] == "recipient_not_allowed"
    floaty: dict[str, Value] = attestation_body("bank2") | {"currency": "eur", "reference": "P4"}
    assert net.run("bank", "pay.attest", floaty)[0] == "malformed_body"


def test_customs_record_references_documents() -> None:
    net = Network()
    _, bill, _ = net.run("carrier", "bl.issue", issue_body("BL-X", "seller", to_order=False))
    body: dict[str, Value] = {
        "reference": "MRN-26NL0001",
        "decision": "clearance",
        "outcome": "held",
        "documents": [bill.id.hex()],
        "reason": "physical inspection",
    }
    code, _, _ = net.run("customs", "customs.record", body)
    assert code == "ok"
    history = queries.document_history(net.state, bill.id.hex())
    assert history[-1]["action"] == "customs.record"
    assert net.run("customs", "customs.record", body)[0] == "reference_taken"
    unknown = body | {"reference": "MRN-2", "documents": ["11" * 32]}
    assert net.run("customs", "customs.record", unknown)[0] == "linked_document_unknown"
    wrong = body | {"reference": "MRN-3", "outcome": "accepted"}
    assert net.run("customs", "customs.record", wrong)[0] == "malformed_body"


def test_governance_needs_threshold_distinct_admins() -> None:
    net = Network(
        organisations={
            "gov-a": (Role.GOVERNANCE,),
            "gov-b": (Role.GOVERNANCE, Role.CUSTOMS),
            "seller": (Role.SELLER,),
            "carrier": (Role.CARRIER,),
        },
        admins_per_organisation=2,
        governance_threshold=3,
    )
    new_admin = seeded_key("newbank/admin")
    proposal_body: dict[str, Value] = {
        "action": "org.add",
        "params": {
            "id": "newbank",
            "name": "New Bank",
            "country": "DE",
            "roles": ["bank"],
            "admin_keys": [new_admin.public_key],
        },
        "expiry_height": 20,
    }
    code, proposal, _ = net.run("gov-a", "gov.propose", proposal_body, admin=True)
    assert code == "ok"
    approve = {"proposal": proposal.id.hex()}
    assert net.run("gov-a", "gov.approve", approve, admin=True)[0] == "already_approved"
    assert net.run("seller", "gov.approve", approve, admin=True)[0] == "role_not_allowed"
    assert net.run("gov-b", "gov.approve", approve)[0] == "admin_required"
    assert net.run(new_admin, "bl.transfer", {})[0] == "key_unknown"
    second = net.tx(net.key("gov-a", admin=True, index=1), "gov.approve", approve)
    assert net.block([second]).code_values() == ("ok",)
    assert queries.organisation(net.state, "newbank") is None  # 2 of 3
    assert net.run("gov-b", "gov.approve", approve, admin=True)[0] == "ok"
    assert queries.organisation(net.state, "newbank") is not None
    record = queries.proposal(net.state, proposal.id.hex())
    assert record is not None
    assert record["status"] == "executed"
    assert net.run("gov-b", "gov.approve", approve, admin=True)[0] == "proposal_closed"
    assert net.run(new_admin, "pay.attest", attestation_body("newbank"))[0] == "ok"
    # suspend the seller: its keys sign nothing, nobody may name it as a party
    suspend: dict[str, Value] = {
        "action": "org.suspend",
        "params": {"organisation": "seller", "reason": "sanctions"},
        "expiry_height": net.height + 10,
    }
    code, suspension, _ = net.run("gov-b", "gov.propose", suspend, admin=True)
    for index in (0, 1):
        key = net.key("gov-a", admin=True, index=index)
        tx = net.tx(key, "gov.approve", {"proposal": suspension.id.hex()})
        net.block([tx])
    assert (
        net.run("seller", "member.register", {"key": bytes(32), "name": "x"}, admin=True)[0]
        == "organisation_suspended"
    )
    issue = issue_body("BL-S", "seller", to_order=True)
    assert net.run("carrier", "bl.issue", issue)[0] == "party_suspended"


def test_validator_set_change_is_reported() -> None:
    net = Network()
    node = seeded_key("node/1").public_key
    body: dict[str, Value] = {
        "action": "validator.set",
        "params": {"node_key": node, "organisation": "bank", "power": 5},
        "expiry_height": 10,
    }
    tx = net.tx("gov", "gov.propose", body, admin=True)
    result = net.block([tx])
    assert result.code_values() == ("ok",)
    assert result.validator_set is not None
    assert result.validator_set.power_of(node) == 5
    assert len(queries.validators(net.state)) == 2
    remove_all: dict[str, Value] = {
        "action": "validator.set",
        "params": {
            "node_key": seeded_key("node/0").public_key,
            "organisation": "carrier",
            "power": 0,
        },
        "expiry_height": 10,
    }
    assert net.run("gov", "gov.propose", remove_all, admin=True)[0] == "ok"
    last: dict[str, Value] = {
        "action": "validator.set",
        "params": {"node_key": node, "organisation": "bank", "power": 0},
        "expiry_height": 10,
    }
    assert net.run("gov", "gov.propose", last, admin=True)[0] == "proposal_invalid"


def test_bill_straight_consignee_void_and_reference_rules() -> None:
    net = Network()
    straight = issue_body("BL-ST", "seller", to_order=False, consignee="buyer")
    code, tx, _ = net.run("carrier", "bl.issue", straight)
    doc = tx.id.hex()
    assert code == "ok"
    assert net.run("carrier", "bl.issue", straight)[0] == "reference_taken"
    same_file = issue_body("BL-ST2", "seller", to_order=False) | {
        "document_sha256": sha("bill/BL-ST")
    }
    assert net.run("carrier", "bl.issue", same_file)[0] == "file_hash_taken"
    offer = {"document": doc, "recipient": "bank", "offer_expiry_height": net.height + 5}
    assert net.run("seller", "bl.transfer", offer)[0] == "recipient_not_allowed"
    assert net.run("seller", "bl.endorse", {"document": doc, "action": "BLANK_ENDORSE"})[0] == (
        "not_to_order"
    )
    surrender = {"document": doc, "purpose": "delivery"}
    assert net.run("seller", "bl.surrender", surrender)[0] == "recipient_not_allowed"
    offer = {"document": doc, "recipient": "buyer", "offer_expiry_height": net.height + 1}
    assert net.run("seller", "bl.transfer", offer)[0] == "offer_expiry_invalid"
    offer["offer_expiry_height"] = net.height + 5
    assert net.run("seller", "bl.transfer", offer)[0] == "ok"
    assert net.run("seller", "bl.transfer", offer)[0] == "transfer_pending"
    assert net.run("bank", "bl.accept", {"document": doc})[0] == "sender_not_recipient"
    assert net.run("buyer", "bl.accept", {"document": doc})[0] == "ok"
    assert net.run("carrier", "bl.void", {"document": doc, "reason": "x"})[0] == (
        "already_transferred"
    )
    assert net.run("seller", "bl.transfer", offer)[0] == "sender_not_holder"
    assert net.run("buyer", "bl.surrender", surrender)[0] == "ok"
    assert net.run("carrier2", "bl.surrender_accept", {"document": doc})[0] == "sender_not_issuer"
    assert net.run("carrier", "bl.surrender_accept", {"document": doc})[0] == "ok"
    assert net.run("buyer", "bl.surrender", surrender)[0] == "document_inactive"
    amend = {
        "document": doc,
        "reference": "BL-ST",
        "document_sha256": sha("v2"),
        "bill": bill_body(),
    }
    assert net.run("carrier", "bl.amend", amend)[0] == "document_inactive"
    chain = queries.endorsement_chain(net.state, doc)
    assert [(e["action"], e["actor"], e["recipient"]) for e in chain] == [
        ("ISSUE", "carrier", "seller"),
        ("TRANSFER", "seller", "buyer"),
        ("SURRENDER_FOR_DELIVERY", "buyer", "carrier"),
        ("SACC", "carrier", "buyer"),
    ]
