"""Consensus messages: canonical encoding, signatures, limits; and VoteSet counting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import crypto
from ledger.crypto import SigningKey
from ledger.errors import BadSignature, DecodeError, ValidationError
from ledger.types import (
    SignedVote,
    Validator,
    ValidatorSet,
    Vote,
    VoteKind,
)
from network.consensus import (
    Decided,
    Proposal,
    SignedProposal,
    Step,
    WalRecord,
    decode_message,
    encode_message,
    verify_message,
)
from network.consensus.ready import WAL_RECORD_MESSAGES_MAX
from network.consensus.votes import VoteSet
from tests.chain import signed_commit

CHAIN = "test-chain"
KEYS = sorted((SigningKey(bytes([i + 7]) * 32) for i in range(4)), key=lambda k: k.public_key)
VALIDATORS = ValidatorSet.of(
    [Validator(node_key=k.public_key, power=1, organisation=f"org{i}") for i, k in enumerate(KEYS)]
)
HASHES: list[bytes | None] = [None, b"a" * 32, b"b" * 32, b"c" * 32]


def signed_vote(index: int, block_hash: bytes | None, round_: int = 0) -> SignedVote:
    vote = Vote(
        kind=VoteKind.PREVOTE,
        height=1,
        round=round_,
        block_hash=block_hash,
        timestamp_ms=5,
        validator=KEYS[index].public_key,
    )
    return SignedVote.sign(KEYS[index], CHAIN, vote)


def signed_proposal(value: bytes = b"v", round_: int = 1, pol_round: int = 0) -> SignedProposal:
    proposal = Proposal(
        height=3,
        round=round_,
        pol_round=pol_round,
        value=value,
        value_hash=crypto.sha256(value),
        proposer=KEYS[0].public_key,
    )
    return SignedProposal.sign(KEYS[0], CHAIN, proposal)


def test_messages_round_trip_and_verify() -> None:
    vote = signed_vote(1, b"a" * 32)
    proposal = signed_proposal()
    commit = signed_commit(CHAIN, 1, b"a" * 32, KEYS[:3], [5] * 3)
    decided = Decided(value=b"value", commit=commit)
    for message in (vote, proposal, decided):
        data = encode_message(message)
        assert decode_message(data) == message
        verify_message(decode_message(data), CHAIN, VALIDATORS)


def test_a_proposal_signature_covers_the_hash_and_the_rounds() -> None:
    proposal = signed_proposal()
    moved = Proposal(
        height=3,
        round=2,
        pol_round=0,
        value=b"v",
        value_hash=proposal.proposal.value_hash,
        proposer=KEYS[0].public_key,
    )
    with pytest.raises(BadSignature):
        verify_message(
            SignedProposal(proposal=moved, signature=proposal.signature), CHAIN, VALIDATORS
        )
    with pytest.raises(BadSignature):
        verify_message(proposal, "other-chain", VALIDATORS)


def test_a_prevote_signature_is_no_precommit_signature() -> None:
    prevote = signed_vote(1, b"a" * 32)
    as_precommit = Vote(
        kind=VoteKind.PRECOMMIT,
        height=1,
        round=0,
        block_hash=b"a" * 32,
        timestamp_ms=5,
        validator=KEYS[1].public_key,
    )
    with pytest.raises(BadSignature):
        verify_message(
            SignedVote(vote=as_precommit, signature=prevote.signature), CHAIN, VALIDATORS
        )


def test_outsiders_are_refused_before_their_signature_is_checked() -> None:
    outsider = SigningKey(bytes([200]) * 32)
    vote = Vote(
        kind=VoteKind.PREVOTE,
        height=1,
        round=0,
        block_hash=None,
        timestamp_ms=0,
        validator=outsider.public_key,
    )
    with pytest.raises(ValidationError, match="not a validator"):
        verify_message(SignedVote.sign(outsider, CHAIN, vote), CHAIN, VALIDATORS)


@pytest.mark.parametrize(("round_", "pol_round"), [(0, 0), (2, 2), (2, 3), (2, -2)])
def test_proposal_pol_round_must_be_nil_or_below_the_round(round_: int, pol_round: int) -> None:
    with pytest.raises(ValidationError, match="pol_round"):
        Proposal(
            height=1,
            round=round_,
            pol_round=pol_round,
            value=b"v",
            value_hash=bytes(32),
            proposer=KEYS[0].public_key,
        )


def test_decoding_is_strict() -> None:
    data = encode_message(signed_vote(0, None))
    with pytest.raises(DecodeError):
        decode_message(data + b"\x00")
    from ledger.codec import encode

    with pytest.raises(ValidationError, match="unknown message kind"):
        decode_message(encode({"body": {}, "kind": "gossip"}))


def test_wal_record_is_bounded_and_consistent() -> None:
    vote = signed_vote(0, None).vote
    with pytest.raises(ValidationError):
        WalRecord(
            height=1,
            round=0,
            step=Step.PREVOTE,
            locked_round=0,
            locked_hash=None,
            valid_round=-1,
            valid_hash=None,
            valid_value=None,
            proposals=(),
            votes=(vote,),
        )
    with pytest.raises(ValidationError):
        WalRecord(
            height=1,
            round=0,
            step=Step.PREVOTE,
            locked_round=-1,
            locked_hash=None,
            valid_round=-1,
            valid_hash=None,
            valid_value=None,
            proposals=(),
            votes=(vote,) * (WAL_RECORD_MESSAGES_MAX + 1),
        )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(HASHES)), max_size=24))
def test_vote_set_counts_validators_not_messages(votes: list[tuple[int, bytes | None]]) -> None:
    tally = VoteSet(VALIDATORS)
    signed = {(i, h): signed_vote(i, h) for i in range(4) for h in HASHES}
    counted: dict[int, list[bytes | None]] = {}
    evidence = 0
    for index, block_hash in votes:
        conflicting = tally.add(signed[(index, block_hash)])
        values = counted.setdefault(index, [])
        if block_hash not in values and len(values) < 2:
            values.append(block_hash)
            if len(values) == 2:
                evidence += 1
                assert conflicting is not None
                assert conflicting.vote.block_hash == values[0]
                continue
        assert conflicting is None
    assert tally.power_any == len(counted)
    for block_hash in HASHES:
        expected = sum(block_hash in values for values in counted.values())
        assert tally.power_for(block_hash) == expected
        assert len(tally.for_hash(block_hash)) == expected
    assert evidence == sum(len(v) == 2 for v in counted.values())
    for index in list(counted):
        tally.remove(KEYS[index].public_key)
    assert tally.power_any == 0
    assert all(tally.power_for(h) == 0 for h in HASHES)


@given(st.integers(1, 100))
def test_thresholds_come_from_the_total_power(count: int) -> None:
    """quorum = floor(2n/3) + 1 and skip = floor(n/3) + 1 (spec §0, pitfall 3): two quorums
    share more than n/3 (an honest validator); a skip set holds an honest validator."""
    from network.consensus import ConsensusConfig

    keys = [SigningKey(i.to_bytes(2, "big") * 16).public_key for i in range(count)]
    validators = ValidatorSet.of([Validator(node_key=k, power=1, organisation="o") for k in keys])
    config = ConsensusConfig(chain_id=CHAIN, validators=validators, node_key=keys[0])
    faulty_max = (count - 1) // 3
    assert 2 * config.quorum_power - count > faulty_max
    assert config.skip_power > faulty_max
    assert config.quorum_power <= count - faulty_max
