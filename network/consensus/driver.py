"""`drain_ready`: the one loop that turns a replica's `Ready` into work, shared by the node
runtime and the simulator, so both keep the order that makes signing crash-safe."""

from __future__ import annotations

from typing import Protocol

from ledger.types import DuplicateVoteEvidence, SignedVote, Vote
from network.consensus.messages import Decided, Proposal, SignedProposal
from network.consensus.ready import LaggingPeer, Outbound, Timeout, ValueRequest, WalRecord
from network.consensus.replica import Replica

DRAIN_ITERATIONS_MAX = 1000  # Ready rounds in one drain; a handful per height in practice


class ReadyHandler(Protocol):
    """The driver's side of `Ready`: I/O the core may not do."""

    def persist(self, record: WalRecord) -> None:
        """Append `record` to the write-ahead log; return only once it is durable (fsync)."""
        ...

    def sign_and_send(self, message: Proposal | Vote) -> SignedProposal | SignedVote:
        """Sign with the node key, broadcast to every validator, return the signed message."""
        ...

    def send(self, outbound: Outbound) -> None:
        """Send an already-signed message to `outbound.to`, or to all when it is None."""
        ...

    def schedule(self, timeout: Timeout) -> None:
        """Make sure `tick(now_ms)` is called at or after `timeout.deadline_ms`."""
        ...

    def execute_and_persist(self, decided: Decided) -> None:
        """Execute the decided value and persist it with its commit (one atomic batch)."""
        ...

    def report_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        """Add to the evidence pool: the next value this node proposes should carry it."""
        ...

    def serve_lagging(self, lagging: LaggingPeer) -> None:
        """Send `lagging.peer` the `Decided` of `lagging.height` from the store (block sync)."""
        ...

    def get_value(self, request: ValueRequest) -> bytes | None:
        """A value to propose at (height, round), or None to answer later with
        `Replica.propose`."""
        ...


def drain_ready(replica: Replica, handler: ReadyHandler) -> None:
    """Do all the work `replica` has, in the order `Ready` prescribes, until none is left."""
    for _ in range(DRAIN_ITERATIONS_MAX):
        if not replica.has_ready():
            return
        ready = replica.ready()
        if ready.persist is not None:
            handler.persist(ready.persist)  # durable before any vote leaves: no double-sign
        signed = [handler.sign_and_send(message) for message in ready.to_sign]
        for outbound in ready.send:
            handler.send(outbound)
        for timeout in ready.timeouts:
            handler.schedule(timeout)
        for decided in ready.decided:
            handler.execute_and_persist(decided)
        for evidence in ready.evidence:
            handler.report_evidence(evidence)
        for lagging in ready.lagging:
            handler.serve_lagging(lagging)
        replica.advance(ready)
        for message in signed:
            replica.step(message)  # own messages take the normal input path (pitfall 11)
        if ready.value_request is not None:
            value = handler.get_value(ready.value_request)
            if value is not None:
                replica.propose(ready.value_request, value)
    raise AssertionError(f"replica still has work after {DRAIN_ITERATIONS_MAX} Ready rounds")
