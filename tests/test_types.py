from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ledger.codec import decode, encode
from ledger.errors import BadSignature, DecodeError, ValidationError
from ledger.types import Block, Commit, Genesis, Transaction, ValidatorSet
from tests.chain import ChainBuilder, key


def test_transaction_round_trip_and_signature() -> None:
    chain = ChainBuilder()
    tx = chain.transaction("bl.issue", reference="ABC", weight_g=1200)
    decoded = Transaction.decode(tx.encode())
    assert decoded == tx
    decoded.verify_signature()
    assert decoded.id == tx.id


def test_transaction_id_ignores_the_signature_but_the_signature_is_checked() -> None:
    chain = ChainBuilder()
    tx = chain.transaction()
    forged = replace(tx, signature=bytes(64))
    assert forged.id == tx.id
    with pytest.raises(BadSignature):
        forged.verify_signature()


def test_transaction_from_another_chain_does_not_verify() -> None:
    chain = ChainBuilder()
    tx = chain.transaction()
    with pytest.raises(BadSignature):
        replace(tx, chain_id="other-chain").verify_signature()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sender", b"short", "tx.sender: must be 32 bytes"),
        ("nonce", -1, "tx.nonce: must be in"),
        ("expiry_height", 0, "tx.expiry_height"),
        ("kind", "", "tx.kind: length"),
        ("body", [1], "tx.body: expected a map"),
        ("extra", 1, "tx.extra: unknown field"),
    ],
)
def test_transaction_validation_names_the_field(field: str, value: object, message: str) -> None:
    tx = ChainBuilder().transaction()
    raw = tx.to_value() | {field: value}
    with pytest.raises(ValidationError, match=message):
        Transaction.decode(encode(raw))  # type: ignore[arg-type]


def test_oversized_transaction_is_refused() -> None:
    tx = ChainBuilder().transaction(blob=b"x" * 70_000)
    with pytest.raises(DecodeError, match="exceeds"):
        Transaction.decode(tx.encode())


def test_block_and_commit_round_trip_and_commit_verifies() -> None:
    chain = ChainBuilder()
    chain.next_block([chain.transaction()])
    executed = chain.next_block([chain.transaction(), chain.transaction()])
    block = Block.decode(executed.block.encode())
    assert block == executed.block
    commit = Commit.from_value(decode(encode(executed.commit.to_value())))
    commit.verify(chain.chain_id, chain.validators)
    assert block.last_commit is not None
    assert block.header.time_ms == block.last_commit.median_time_ms(chain.validators)


def test_commit_below_quorum_or_with_strangers_is_refused() -> None:
    chain = ChainBuilder()
    commit = chain.next_block().commit
    short = replace(commit, signatures=commit.signatures[:2])
    with pytest.raises(ValidationError, match="below the quorum"):
        short.verify(chain.chain_id, chain.validators)
    doubled = replace(commit, signatures=(*commit.signatures[:2], commit.signatures[0]))
    with pytest.raises(ValidationError, match="signs twice"):
        doubled.verify(chain.chain_id, chain.validators)
    stranger = replace(commit.signatures[0], validator=key("stranger").public_key)
    with pytest.raises(ValidationError, match="not a validator"):
        replace(commit, signatures=(stranger, *commit.signatures[1:])).verify(
            chain.chain_id, chain.validators
        )
    with pytest.raises(BadSignature):
        commit.verify("other-chain", chain.validators)


def test_quorum_is_more_than_two_thirds() -> None:
    validators = ChainBuilder(validator_count=4).validators
    assert (validators.total_power, validators.quorum_power) == (4, 3)
    assert ChainBuilder(validator_count=7).validators.quorum_power == 5
    assert ChainBuilder(validator_count=1).validators.quorum_power == 1


def test_genesis_json_round_trip() -> None:
    genesis = ChainBuilder().genesis
    assert Genesis.from_json(genesis.to_json()) == genesis
    assert Genesis.from_json(genesis.to_json()).hash() == genesis.hash()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda g: g["organisations"][0].update(roles=["pirate"]),
            "organisations\\[0\\].roles\\[0\\]",
        ),
        (lambda g: g["organisations"][0].update(country="nl"), "organisations\\[0\\].country"),
        (lambda g: g["validators"][0].update(node_key="00"), "validators\\[0\\].node_key"),
        (lambda g: g["members"][0].update(organisation="nobody"), "members\\[0\\].organisation"),
        (lambda g: g.update(governance_threshold=5), "governance_threshold"),
        (lambda g: g["consensus"].update(timeout_propose_ms=0), "consensus.timeout_propose_ms"),
        (lambda g: g.update(chain_id=""), "chain_id"),
        (lambda g: g.update(validators=[]), "validators"),
    ],
)
def test_genesis_validation_names_the_field(edit: object, message: str) -> None:
    document = json.loads(ChainBuilder().genesis.to_json())
    edit(document)  # type: ignore[operator]
    with pytest.raises(ValidationError, match=message):
        Genesis.from_json(json.dumps(document))


def test_validator_set_must_be_canonical() -> None:
    validators = ChainBuilder().validators.validators
    with pytest.raises(ValidationError, match="sorted"):
        ValidatorSet(tuple(reversed(validators)))
    with pytest.raises(ValidationError, match="sorted"):
        ValidatorSet((validators[0], validators[0]))
