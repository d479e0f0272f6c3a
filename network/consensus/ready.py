"""What the core asks its driver to do: `Ready`, and the records and requests inside it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ledger.codec import CodecLimits, Value, decode, encode
from ledger.crypto import HASH_SIZE_BYTES
from ledger.errors import ValidationError
from ledger.fields import Fields, check_binary
from ledger.types import (
    NIL_ROUND,
    VALIDATOR_COUNT_MAX,
    DuplicateVoteEvidence,
    SignedVote,
    Vote,
)
from network.consensus.messages import (
    ROUND_MAX,
    VALUE_SIZE_BYTES_MAX,
    ConsensusMessage,
    Decided,
    MessageKind,
    Proposal,
)

WAL_RECORD_MESSAGES_MAX = 16  # own messages one record may carry (a few per round change)
# A record holds at most a proposal's value and the valid value, plus a few votes.
WAL_RECORD_SIZE_BYTES_MAX = 2 * VALUE_SIZE_BYTES_MAX + 64 * 1024
_RECORD_LIMITS = CodecLimits(
    frame_size_bytes_max=WAL_RECORD_SIZE_BYTES_MAX, string_length_bytes_max=VALUE_SIZE_BYTES_MAX
)


class Step(enum.IntEnum):
    """step_p of Algorithm 1; ordered propose < prevote < precommit."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


class TimeoutKind(enum.Enum):
    PROPOSE = "propose"  # OnTimeoutPropose (L57)
    PREVOTE = "prevote"  # OnTimeoutPrevote (L61)
    PRECOMMIT = "precommit"  # OnTimeoutPrecommit (L65)
    REBROADCAST = "rebroadcast"  # re-send own messages (gossip; not in Algorithm 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """A timer the core armed: call `tick(now_ms)` at or after `deadline_ms`."""

    kind: TimeoutKind
    height: int
    round: int
    deadline_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueRequest:
    """The core is proposer at (height, round) and has no valid value: answer with
    `Replica.propose(request, value)`."""

    height: int
    round: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbound:
    """An already-signed message to send: to one validator (`to`), or to all (`to is None`)."""

    message: ConsensusMessage
    to: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LaggingPeer:
    """`peer` still works on `height`, which we decided but no longer retain: send it that
    height's value and commit from the store (block sync), as a `Decided`."""

    peer: bytes
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WalRecord:
    """What the replica decided to sign, and the state that decision implies (spec
    pitfall 17): written durably BEFORE the messages are signed and sent.

    Replaying a height's records (`Replica(wal_records=...)`) restores the round, step,
    lock, valid value and every own message, so a restarted replica re-signs the same bytes
    and never different ones. `valid_value` carries the value's bytes only when they changed
    since the previous record (a value can be megabytes); `valid_hash` is always present.
    `valid_pol`, with `valid_value`, is the proof of lock behind it: the 2f+1 prevotes of
    `valid_round` for `valid_hash`. A restarted replica re-proposes its valid value with
    that proof (pitfall 14); without it, an unlocked peer cannot accept the re-proposal, and
    a replica locked on the value never accepts another: the height stalls.
    """

    height: int
    round: int
    step: Step
    locked_round: int
    locked_hash: bytes | None
    valid_round: int
    valid_hash: bytes | None
    valid_value: bytes | None
    proposals: tuple[Proposal, ...]
    votes: tuple[Vote, ...]
    valid_pol: tuple[SignedVote, ...] = ()

    def __post_init__(self) -> None:
        if len(self.proposals) + len(self.votes) > WAL_RECORD_MESSAGES_MAX:
            raise ValidationError("wal_record", f"over {WAL_RECORD_MESSAGES_MAX} messages")
        if (self.locked_round == NIL_ROUND) != (self.locked_hash is None):
            raise ValidationError("wal_record.locked_hash", "must be set exactly when locked")
        if (self.valid_round == NIL_ROUND) != (self.valid_hash is None):
            raise ValidationError("wal_record.valid_hash", "must be set exactly when valid")

    def to_value(self) -> dict[str, Value]:
        return {
            "height": self.height,
            "locked_hash": self.locked_hash,
            "locked_round": self.locked_round,
            "proposals": [p.to_value() for p in self.proposals],
            "round": self.round,
            "step": int(self.step),
            "valid_hash": self.valid_hash,
            "valid_round": self.valid_round,
            "valid_pol": [v.to_value() for v in self.valid_pol],
            "valid_value": self.valid_value,
            "votes": [v.to_value() for v in self.votes],
        }

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def decode(cls, data: bytes) -> WalRecord:
        r = Fields(decode(data, _RECORD_LIMITS), "wal_record")
        valid_value = r.raw("valid_value")
        record = cls(
            height=r.integer("height", minimum=1),
            locked_hash=r.optional_binary("locked_hash", size=HASH_SIZE_BYTES),
            locked_round=r.integer("locked_round", minimum=NIL_ROUND, maximum=ROUND_MAX),
            proposals=r.items("proposals", Proposal.from_value, length_max=WAL_RECORD_MESSAGES_MAX),
            round=r.integer("round", maximum=ROUND_MAX),
            step=Step(r.integer("step", maximum=int(Step.PRECOMMIT))),
            valid_hash=r.optional_binary("valid_hash", size=HASH_SIZE_BYTES),
            valid_pol=r.items(  # absent from records written before it existed
                "valid_pol", SignedVote.from_value, length_max=VALIDATOR_COUNT_MAX, optional=True
            ),
            valid_round=r.integer("valid_round", minimum=NIL_ROUND, maximum=ROUND_MAX),
            valid_value=(
                None
                if valid_value is None
                else check_binary(
                    valid_value, "wal_record.valid_value", size_max=VALUE_SIZE_BYTES_MAX
                )
            ),
            votes=r.items("votes", Vote.from_value, length_max=WAL_RECORD_MESSAGES_MAX),
        )
        r.finish()
        return record

    def own_keys(self) -> list[tuple[int, MessageKind]]:
        keys = [(p.round, MessageKind.PROPOSAL) for p in self.proposals]
        return keys + [(v.round, MessageKind.of_vote(v.kind)) for v in self.votes]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """The work the core asks for. Do it in this order, then call `Replica.advance(ready)`:

    1. `persist`: write durably (fsync) BEFORE anything below leaves the process.
    2. `to_sign`: sign each (only now, after 1), broadcast it, and feed the signed message
       back with `Replica.step` (own messages count like anyone's; `drain_ready` does this).
    3. `send`: already-signed messages (re-sends, the POL of a re-proposal, catch-up).
    4. `timeouts`: make sure `tick(now_ms)` is called at or after each deadline.
    5. `decided`: execute and persist each value with its commit (one atomic batch), in order.
    6. `evidence`: hand to the evidence pool, so a later proposal includes it.
    7. `lagging`: serve each peer the decided height it lacks, from the store.
    8. `value_request`: obtain a value and call `Replica.propose` (after `advance`).
    """

    persist: WalRecord | None
    to_sign: tuple[Proposal | Vote, ...]
    send: tuple[Outbound, ...]
    timeouts: tuple[Timeout, ...]
    decided: tuple[Decided, ...]
    evidence: tuple[DuplicateVoteEvidence, ...]
    lagging: tuple[LaggingPeer, ...]
    value_request: ValueRequest | None

    @property
    def empty(self) -> bool:
        return (
            self.persist is None
            and not self.to_sign
            and not self.send
            and not self.timeouts
            and not self.decided
            and not self.evidence
            and not self.lagging
            and self.value_request is None
        )
