"""The consensus core: Tendermint (Algorithm 1) as a pure state machine.

No I/O, clock, randomness or disk here (tests/test_architecture.py checks the imports):

    replica = Replica(config, app, now_ms=clock(), last_decided_height=h, wal_records=records)
    replica.step(message)         # after verify_message(message, chain_id, validators)
    replica.tick(now_ms)          # the only way time enters
    drain_ready(replica, handler) # persist -> sign+send -> timers -> execute -> evidence
"""

from network.consensus.app import Application, CheckedValue
from network.consensus.config import ConsensusConfig, ConsensusLimits
from network.consensus.driver import ReadyHandler, drain_ready
from network.consensus.errors import ConsensusError, InvalidMessage, MisuseError
from network.consensus.messages import (
    ConsensusMessage,
    Decided,
    MessageKind,
    Proposal,
    SignedProposal,
    decode_message,
    encode_message,
    verify_message,
)
from network.consensus.ready import (
    LaggingPeer,
    Outbound,
    Ready,
    Step,
    Timeout,
    TimeoutKind,
    ValueRequest,
    WalRecord,
)
from network.consensus.replica import Replica

__all__ = [
    "Application",
    "CheckedValue",
    "ConsensusConfig",
    "ConsensusError",
    "ConsensusLimits",
    "ConsensusMessage",
    "Decided",
    "InvalidMessage",
    "LaggingPeer",
    "MessageKind",
    "MisuseError",
    "Outbound",
    "Proposal",
    "Ready",
    "ReadyHandler",
    "Replica",
    "SignedProposal",
    "Step",
    "Timeout",
    "TimeoutKind",
    "ValueRequest",
    "WalRecord",
    "decode_message",
    "drain_ready",
    "encode_message",
    "verify_message",
]
