"""Consensus messages: what replicas exchange, and the exact bytes that are signed.

Votes are `ledger.types.SignedVote` (so a commit is made of the very precommits that were
sent, and a light client checks it with `Commit.verify`). A proposal carries the value (the
node puts an encoded block there) and the value's hash; its signature covers the hash, never
the value bytes. `Decided` is a value with its commit: the core hands it to the node to
execute, and sends it to a lagging peer so that peer can decide by certificate.

Signature checks happen before the core sees a message: `verify_message` is the one check the
caller runs (network/wire.py on the node, the simulator's network in tests).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ledger import crypto
from ledger.codec import CodecLimits, Value, decode, encode
from ledger.crypto import HASH_SIZE_BYTES, PUBLIC_KEY_SIZE_BYTES, SIGNATURE_SIZE_BYTES, Domain
from ledger.errors import ValidationError
from ledger.fields import Fields
from ledger.types import NIL_ROUND, Commit, SignedVote, ValidatorSet, VoteKind

ROUND_MAX = 1_000_000  # the same bound `ledger.types.Vote.from_value` puts on a vote's round
VALUE_SIZE_BYTES_MAX = 4 * 1024 * 1024 + 64 * 1024  # one block (ConsensusParams cap) + framing
MESSAGE_SIZE_BYTES_MAX = VALUE_SIZE_BYTES_MAX + 64 * 1024  # a message is a value plus a commit


class MessageKind(enum.Enum):
    """The three steps at which a validator signs; a replica signs at most once per
    (height, round, kind)."""

    PROPOSAL = "proposal"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"

    @classmethod
    def of_vote(cls, kind: VoteKind) -> MessageKind:
        return cls.PREVOTE if kind is VoteKind.PREVOTE else cls.PRECOMMIT


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """⟨PROPOSAL, height, round, value, pol_round⟩ from `proposer` (Algorithm 1, L19).

    `pol_round` is the paper's validRound: -1 for a fresh value, else the round whose
    prevotes (the proof of lock, POL) justify re-proposing the value (L28).
    """

    height: int
    round: int
    pol_round: int
    value: bytes
    value_hash: bytes
    proposer: bytes

    def __post_init__(self) -> None:
        if self.height < 1:
            raise ValidationError("proposal.height", f"must be >= 1, got {self.height}")
        if not 0 <= self.round <= ROUND_MAX:
            raise ValidationError("proposal.round", f"must be 0..{ROUND_MAX}, got {self.round}")
        if self.pol_round != NIL_ROUND and not 0 <= self.pol_round < self.round:
            raise ValidationError(
                "proposal.pol_round", f"must be -1 or 0..round-1, got {self.pol_round}"
            )
        if len(self.value_hash) != HASH_SIZE_BYTES:
            raise ValidationError("proposal.value_hash", f"must be {HASH_SIZE_BYTES} bytes")
        if len(self.value) > VALUE_SIZE_BYTES_MAX:
            raise ValidationError(
                "proposal.value", f"{len(self.value)} bytes exceeds {VALUE_SIZE_BYTES_MAX}"
            )
        if len(self.proposer) != PUBLIC_KEY_SIZE_BYTES:
            raise ValidationError("proposal.proposer", f"must be {PUBLIC_KEY_SIZE_BYTES} bytes")

    def signed_value(self) -> dict[str, Value]:
        return {
            "height": self.height,
            "pol_round": self.pol_round,
            "proposer": self.proposer,
            "round": self.round,
            "value_hash": self.value_hash,
        }

    def signed_payload(self) -> bytes:
        """What the proposer signs (under Domain.PROPOSAL and the chain id): the hash, not the
        value, so a proposal's signature can be checked without the value."""
        return encode(self.signed_value())

    def to_value(self) -> dict[str, Value]:
        return {**self.signed_value(), "value": self.value}

    @classmethod
    def from_value(cls, value: Value, path: str) -> Proposal:
        r = Fields(value, path)
        proposal = cls(
            height=r.integer("height", minimum=1),
            pol_round=r.integer("pol_round", minimum=NIL_ROUND, maximum=ROUND_MAX),
            proposer=r.binary("proposer", size=PUBLIC_KEY_SIZE_BYTES),
            round=r.integer("round", maximum=ROUND_MAX),
            value=r.binary("value", size_max=VALUE_SIZE_BYTES_MAX),
            value_hash=r.binary("value_hash", size=HASH_SIZE_BYTES),
        )
        r.finish()
        return proposal


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedProposal:
    proposal: Proposal
    signature: bytes

    @classmethod
    def sign(cls, key: crypto.SigningKey, chain_id: str, proposal: Proposal) -> SignedProposal:
        assert proposal.proposer == key.public_key
        signature = key.sign(Domain.PROPOSAL, chain_id, proposal.signed_payload())
        return cls(proposal=proposal, signature=signature)

    def verify(self, chain_id: str) -> None:
        crypto.verify(
            self.proposal.proposer,
            Domain.PROPOSAL,
            chain_id,
            self.proposal.signed_payload(),
            self.signature,
        )

    def to_value(self) -> dict[str, Value]:
        return {"proposal": self.proposal.to_value(), "signature": self.signature}

    @classmethod
    def from_value(cls, value: Value, path: str) -> SignedProposal:
        r = Fields(value, path)
        signed = cls(
            proposal=r.nested("proposal", Proposal.from_value),
            signature=r.binary("signature", size=SIGNATURE_SIZE_BYTES),
        )
        r.finish()
        return signed


@dataclass(frozen=True, slots=True, kw_only=True)
class Decided:
    """A decided value and its commit (2f+1 precommit signatures for its hash, one round)."""

    value: bytes
    commit: Commit

    @property
    def height(self) -> int:
        return self.commit.height

    @property
    def value_hash(self) -> bytes:
        return self.commit.block_hash

    def to_value(self) -> dict[str, Value]:
        return {"commit": self.commit.to_value(), "value": self.value}

    @classmethod
    def from_value(cls, value: Value, path: str) -> Decided:
        r = Fields(value, path)
        decided = cls(
            commit=r.nested("commit", Commit.from_value),
            value=r.binary("value", size_max=VALUE_SIZE_BYTES_MAX),
        )
        r.finish()
        return decided


ConsensusMessage = SignedProposal | SignedVote | Decided
"""What `Replica.step` accepts, after `verify_message` succeeded."""


def message_height(message: ConsensusMessage) -> int:
    if isinstance(message, SignedProposal):
        return message.proposal.height
    if isinstance(message, SignedVote):
        return message.vote.height
    return message.height


def message_sender(message: ConsensusMessage) -> bytes | None:
    """The validator who signed `message`; None for a `Decided` (many signed it)."""
    if isinstance(message, SignedProposal):
        return message.proposal.proposer
    if isinstance(message, SignedVote):
        return message.vote.validator
    return None


def verify_message(message: ConsensusMessage, chain_id: str, validators: ValidatorSet) -> None:
    """Raise BadSignature or ValidationError unless `message` is signed by a validator of
    `validators` (for a `Decided`: unless its commit is valid). The caller runs this before
    `Replica.step`; the core trusts it."""
    signer = message_sender(message)
    if signer is not None and validators.power_of(signer) == 0:
        raise ValidationError("message", f"{signer.hex()[:16]} is not a validator")
    if isinstance(message, SignedProposal | SignedVote):
        message.verify(chain_id)
    else:
        message.commit.verify(chain_id, validators)


def encode_message(message: ConsensusMessage) -> bytes:
    kind = _MESSAGE_TAGS[type(message)]
    return encode({"body": message.to_value(), "kind": kind})


def decode_message(data: bytes) -> ConsensusMessage:
    """The message `encode_message` produced; DecodeError / ValidationError otherwise."""
    value = decode(data, _MESSAGE_LIMITS)
    r = Fields(value, "message")
    kind = r.text("kind", length_max=16)
    body = r.raw("body")
    r.finish()
    if kind == "proposal":
        return SignedProposal.from_value(body, "message.body")
    if kind == "vote":
        return SignedVote.from_value(body, "message.body")
    if kind == "decided":
        return Decided.from_value(body, "message.body")
    raise ValidationError("message.kind", f"unknown message kind {kind!r}")


_MESSAGE_TAGS: dict[type, str] = {
    SignedProposal: "proposal",
    SignedVote: "vote",
    Decided: "decided",
}
_MESSAGE_LIMITS = CodecLimits(
    frame_size_bytes_max=MESSAGE_SIZE_BYTES_MAX,
    string_length_bytes_max=VALUE_SIZE_BYTES_MAX,
    container_length_max=1024,
    depth_max=8,
)
