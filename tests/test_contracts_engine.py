"""Engine: determinism, replay protection, expiry, nonces, sender keys, genesis state."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import BlockContext, execute_block, execute_transaction, genesis_writes, queries
from contracts.context import LIMITS
from contracts.testing import Network, issue_body, seeded_key
from ledger.codec import Value, encode
from ledger.codes import Code
from ledger.errors import ValidationError
from ledger.state import GENESIS_STATE_ROOT, MemoryState, next_state_root
from ledger.types import Member, Transaction, results_root

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"


def scenario(net: Network) -> list[list[Transaction]]:
    """Blocks of transactions touching every family, including rejected ones."""
    bill = net.tx("carrier", "bl.issue", issue_body("BL-D1", "seller", to_order=True))
    doc = bill.id.hex()
    payment = {
        "reference": "PAY-D1",
        "uetr": "8a562c67-ca16-48ba-b074-65581be6f001",
        "beneficiary_bank": "bank2",
        "direction": "sent",
        "payer": {"name": "Buyer Inc"},
        "payee": {"name": "Seller BV"},
        "payer_bank_bic": "DEUTDEFF",
        "payee_bank_bic": "ABNANL2A",
        "amount_minor": 1_250_000,
        "currency": "EUR",
        "value_date": "2026-01-02",
        "references": {"bill_of_lading": doc},
    }
    attestation = net.tx("bank", "pay.attest", payment)
    correction_body = {"document": attestation.id.hex(), **payment, "amount_minor": 1_250_100}
    correction = net.tx("bank", "pay.correct", correction_body)
    blocks = [
        [bill, net.tx("seller", "bl.issue", issue_body("BL-D2", "buyer", to_order=False))],
        [
            net.tx(
                "seller",
                "bl.transfer",
                {"document": doc, "recipient": "bank", "offer_expiry_height": 4},
            )
        ],
        [net.tx("bank", "bl.accept", {"document": doc}), bill],  # second is a duplicate
        [
            net.tx(
                "bank",
                "bl.transfer",
                {"document": doc, "recipient": "buyer", "offer_expiry_height": 5},
            )
        ],
        [attestation],  # bank and bank2 become parties of the bill
        [correction],  # the offer lapses here (before the correction runs)
        [net.tx("bank", "bl.surrender", {"document": doc, "purpose": "delivery"})],
        [net.tx("carrier", "bl.surrender_accept", {"document": doc})],
        [
            net.tx(
                "gov",
                "gov.propose",
                {"action": "org.suspend", "params": {"organisation": "buyer"}, "expiry_height": 50},
                admin=True,
            ),
            net.tx("buyer", "bl.accept", {"document": doc}),
        ],
    ]
    return blocks


def run_chain(net: Network, blocks: list[list[Transaction]]) -> tuple[list[bytes], list[bytes]]:
    state = MemoryState(genesis_writes(net.genesis))
    root = GENESIS_STATE_ROOT
    roots: list[bytes] = []
    results: list[bytes] = []
    for height, txs in enumerate(blocks, start=1):
        result = execute_block(state, txs, net.context(height))
        state.apply(result.writes)
        root = next_state_root(root, result.writes)
        roots.append(root)
        results.append(results_root(result.code_values()))
        encode(list(result.writes.items()))  # every written value is canonical
    return roots, results


def test_same_transactions_on_two_fresh_states_give_identical_roots() -> None:
    net = Network()
    blocks = scenario(net)
    first = run_chain(net, blocks)
    second = run_chain(Network(), blocks)
    assert first == second
    assert len(set(first[0])) == len(blocks)


def test_scenario_codes() -> None:
    net = Network()
    blocks = scenario(net)
    codes = [net.block(txs).code_values() for txs in blocks]
    assert codes[0] == ("ok", "role_not_allowed")
    assert codes[2] == ("ok", "duplicate_transaction")
    assert codes[4:6] == [("ok",), ("ok",)]
    assert codes[-1] == ("ok", "organisation_suspended")
    history = queries.document_history(net.state, blocks[0][0].id.hex())
    assert [event["action"] for event in history] == [
        "bl.issue",
        "bl.transfer",
        "bl.accept",
        "bl.transfer",
        "pay.attest",
        "bl.lapse",
        "pay.correct",
        "bl.surrender",
        "bl.surrender_accept",
    ]


def test_replay_expiry_and_nonce() -> None:
    net = Network()
    body = issue_body("BL-R", "seller", to_order=True)
    tx = net.tx("carrier", "bl.issue", body, nonce=7)
    assert net.block([tx]).code_values() == ("ok",)
    assert net.block([tx]).code_values() == ("duplicate_transaction",)
    again = net.tx("carrier", "bl.issue", issue_body("BL-S", "seller", to_order=True), nonce=7)
    assert net.block([again]).code_values() == ("nonce_reused",)
    late = net.tx("carrier", "bl.issue", body, expiry_height=net.height)
    assert net.block([late]).code_values() == ("expired",)
    far = net.height + 1 + LIMITS.transaction_expiry_blocks_max + 1
    too_far = net.tx("carrier", "bl.issue", body, expiry_height=far)
    assert net.block([too_far]).code_values() == ("expiry_too_far",)
    # a rejected transaction is recorded: it cannot be replayed either
    assert net.block([late]).code_values() == ("duplicate_transaction",)
    record = queries.transaction_result(net.state, late.id)
    assert record is not None
    assert record["code"] == "expired"


def test_wrong_chain_unknown_kind_malformed_body() -> None:
    net = Network()
    other = Transaction.create(
        net.key("carrier"),
        chain_id="other-chain",
        kind="bl.issue",
        nonce=1,
        expiry_height=5,
        body={},
    )
    assert net.block([other]).code_values() == ("wrong_chain",)
    assert net.run("carrier", "bl.fly", {})[0] == "unknown_kind"
    code, _, result = net.run("carrier", "bl.issue", {"reference": "X"})
    assert code == "malformed_body"
    assert "body.issue_to" in result.details[0]
    body = issue_body("BL-M", "seller", to_order=True)
    body["surprise"] = 1
    assert net.run("carrier", "bl.issue", body)[0] == "malformed_body"


def test_unknown_and_revoked_keys() -> None:
    net = Network()
    stranger = seeded_key("stranger")
    assert net.run(stranger, "bl.issue", issue_body("B1", "seller", to_order=True))[0] == (
        "key_unknown"
    )
    clerk = net.key("carrier")
    code, _, _ = net.run("carrier", "member.revoke", {"key": clerk.public_key}, admin=True)
    assert code == "ok"
    assert net.run(clerk, "bl.issue", issue_body("B2", "seller", to_order=True))[0] == (
        "key_revoked"
    )
    new = seeded_key("carrier/new")
    assert (
        net.run("carrier", "member.register", {"key": new.public_key, "name": "n"}, admin=True)[0]
        == "ok"
    )
    assert net.run(new, "bl.issue", issue_body("B3", "seller", to_order=True))[0] == "ok"
    rotated = seeded_key("carrier/rotated")
    body: dict[str, Value] = {"old_key": new.public_key, "new_key": rotated.public_key}
    assert net.run("carrier", "member.rotate", body, admin=True)[0] == "ok"
    assert net.run(new, "bl.issue", issue_body("B4", "seller", to_order=True))[0] == "key_revoked"
    assert net.run(rotated, "bl.issue", issue_body("B5", "seller", to_order=True))[0] == "ok"
    key_record = queries.member_key(net.state, new.public_key)
    assert key_record is not None
    assert key_record["replaced_by"] == rotated.public_key
    # keys are never reused, and an admin manages only its own organisation's members
    reuse = {"key": new.public_key, "name": "again"}
    assert net.run("carrier", "member.register", reuse, admin=True)[0] == "key_exists"
    other = {"key": net.key("seller").public_key}
    assert net.run("carrier", "member.revoke", other, admin=True)[0] == "member_unknown"


def test_revocation_applies_within_the_block_from_that_transaction_on() -> None:
    net = Network()
    clerk = net.key("carrier")
    before = net.tx(clerk, "bl.issue", issue_body("B1", "seller", to_order=True))
    revoke = net.tx("carrier", "member.revoke", {"key": clerk.public_key}, admin=True)
    after = net.tx(clerk, "bl.issue", issue_body("B2", "seller", to_order=True))
    assert net.block([before, revoke, after]).code_values() == ("ok", "ok", "key_revoked")
    assert queries.document(net.state, before.id.hex()) is not None


def test_genesis_refuses_a_key_listed_twice() -> None:
    net = Network()
    shared = net.key("seller")
    genesis = net.genesis
    twice = type(genesis)(
        chain_id=genesis.chain_id,
        genesis_time_ms=genesis.genesis_time_ms,
        organisations=genesis.organisations,
        members=(Member(key=net.admins["bank"][0].public_key, organisation="seller", name="x"),),
        validators=genesis.validators,
    )
    with pytest.raises(ValidationError):
        genesis_writes(twice)
    assert shared.public_key != net.admins["bank"][0].public_key


def test_execute_transaction_alone_matches_block_execution() -> None:
    net = Network()
    tx = net.tx("carrier", "bl.issue", issue_body("BL-A", "seller", to_order=True))
    ctx = BlockContext(chain_id=net.chain_id, height=1, time_ms=5, proposer=bytes(32))
    outcome = execute_transaction(net.state, tx, ctx)
    assert outcome.ok
    assert outcome.writes == execute_block(net.state, [tx], ctx).writes


def test_every_code_has_a_description_and_snake_case_value() -> None:
    values = [code.value for code in Code]
    assert len(set(values)) == len(values)
    for code in Code:
        assert code.value.replace("_", "").isalpha()
        assert code.value.islower()
        assert code.description
    assert Code.from_value("sender_not_holder") is Code.SENDER_NOT_HOLDER
    with pytest.raises(ValueError, match="unknown"):
        Code.from_value("nope")


def test_documented_codes_are_the_enum() -> None:
    docs = (CONTRACTS.parent / "docs" / "contracts.md").read_text()
    for code in Code:
        assert f"`{code.value}`" in docs, f"{code.value} is not in docs/contracts.md"
