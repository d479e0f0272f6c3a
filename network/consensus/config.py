"""What a replica is configured with: the validator set, the timeouts, and named limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.crypto import CHAIN_ID_LENGTH_MAX, PUBLIC_KEY_SIZE_BYTES
from ledger.types import BLOCK_EVIDENCE_COUNT_MAX, ConsensusParams, ValidatorSet
from network.consensus.messages import ROUND_MAX, VALUE_SIZE_BYTES_MAX


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusLimits:
    """Bounds on everything a replica keeps because a peer sent it. Each is a hard limit."""

    # Messages for height h_p + 1 wait until h_p is decided (spec pitfall 12), at most this
    # many per validator (a proposal and two votes for a few rounds; re-sends bring the rest).
    # Later heights are dropped: the peer answers with the decision, or block sync catches up.
    next_height_messages_per_validator_max: int = 12
    # Rounds above round_p for which one validator's messages are kept. CometBFT keeps
    # round_p + 1 plus two catch-up rounds per peer. An honest validator's rounds only grow,
    # so when a validator exceeds this we evict its lowest future round.
    future_rounds_per_validator_max: int = 3
    # Proposals kept per round: the first and one conflicting (spec pitfall 16).
    proposals_per_round_max: int = 2
    # Duplicate-vote evidence reported per height; matches what one block can carry.
    evidence_per_height_max: int = BLOCK_EVIDENCE_COUNT_MAX
    # Decided values (with commits) kept to answer lagging peers; older ones come from sync.
    decided_retained_max: int = 8
    value_size_bytes_max: int = VALUE_SIZE_BYTES_MAX
    round_max: int = ROUND_MAX
    # Rule evaluations after one input; Algorithm 1 fires a handful. More is a bug.
    rule_firings_per_input_max: int = 10_000

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise ValueError(f"ConsensusLimits.{name} must be >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusConfig:
    """One replica's configuration. `node_key` is this replica's public key; a node whose key
    is not in `validators` follows consensus without voting."""

    chain_id: str
    validators: ValidatorSet
    node_key: bytes
    params: ConsensusParams = field(default_factory=ConsensusParams)
    # Re-send own messages of the current height at this period (gossip, spec pitfall 14).
    rebroadcast_interval_ms: int = 1000
    limits: ConsensusLimits = field(default_factory=ConsensusLimits)

    def __post_init__(self) -> None:
        if not 1 <= len(self.chain_id) <= CHAIN_ID_LENGTH_MAX:
            raise ValueError(f"chain id must be 1..{CHAIN_ID_LENGTH_MAX} characters")
        if len(self.node_key) != PUBLIC_KEY_SIZE_BYTES:
            raise ValueError(f"node_key must be {PUBLIC_KEY_SIZE_BYTES} bytes")
        if self.rebroadcast_interval_ms < 1:
            raise ValueError("rebroadcast_interval_ms must be >= 1")

    @property
    def quorum_power(self) -> int:
        """More than 2/3 of the power: floor(2n/3) + 1 for n equal weights (spec §0)."""
        return self.validators.quorum_power

    @property
    def skip_power(self) -> int:
        """More than 1/3 of the power (f+1 for n = 3f+1): at least one honest validator."""
        return self.validators.total_power // 3 + 1

    def timeout_propose_ms(self, round_: int) -> int:
        return self.params.timeout_propose_ms + round_ * self.params.timeout_increase_ms

    def timeout_prevote_ms(self, round_: int) -> int:
        return self.params.timeout_prevote_ms + round_ * self.params.timeout_increase_ms

    def timeout_precommit_ms(self, round_: int) -> int:
        return self.params.timeout_precommit_ms + round_ * self.params.timeout_increase_ms
